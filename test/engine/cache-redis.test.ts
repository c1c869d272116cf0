/**
 * The Redis tier against a real redis-server (test/helpers/redis.ts): keys under the prefix
 * with a TTL, values read back bit for bit, and Redis slow, full or gone never failing nor
 * delaying a read beyond the timeout, with every failure counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REDIS_BACKOFF_MS, RedisStore, redactRedisUrl } from '../../src/engine/cache/redis-store.js';
import { type Metrics, createMetrics } from '../../src/metrics.js';
import { RedisServer } from '../helpers/redis.js';
import { testLogger } from '../helpers/silent-logger.js';

const TIMEOUT_MS = 50;

/** Failures counted so far, of one operation (and reason, when given). */
async function redisErrors(metrics: Metrics, operation: string, reason?: string): Promise<number> {
  return (await metrics.cacheRedisErrors.get()).values
    .filter((v) => v.labels.operation === operation && (reason === undefined || v.labels.reason === reason))
    .reduce((n, v) => n + v.value, 0);
}

/** Resolves when `condition` holds, polling the store's own state (ioredis reports its connection by events we do not see here). */
async function until(condition: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function storeFor(server: RedisServer, metrics: Metrics): RedisStore {
  return new RedisStore({ url: server.url, prefix: 'test', ttlSeconds: 600, timeoutMs: TIMEOUT_MS, log: testLogger(), metrics });
}

/**
 * Waits until the store has connected (a read answers without a failure counted: reads before
 * the connection is up are counted as unavailable), then starts the failure counts afresh.
 */
async function connected(store: RedisStore, metrics: Metrics): Promise<void> {
  await until(async () => {
    const before = await redisErrors(metrics, 'read');
    await store.get(['probe']);
    return (await redisErrors(metrics, 'read')) === before;
  }, 'the store to connect');
  metrics.cacheRedisErrors.reset();
}

describe('the Redis tier', () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(() => server.stop());

  it('writes values under its prefix with a TTL and reads them back bit for bit', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const store = storeFor(server, metrics);
    try {
      await connected(store, metrics);
      const value = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) % 256);
      store.set([{ key: 'v1:m:abc:tokenize::00ff', value }]);
      const inspect = server.client();
      try {
        await until(async () => (await inspect.exists('test:v1:m:abc:tokenize::00ff')) === 1, 'the write');
        const ttl = await inspect.ttl('test:v1:m:abc:tokenize::00ff');
        assert.ok(ttl > 590 && ttl <= 600, `ttl ${ttl}`);
      } finally {
        inspect.disconnect();
      }
      const [found, missing] = await store.get(['v1:m:abc:tokenize::00ff', 'absent']);
      assert.deepEqual(found, value);
      assert.equal(missing, undefined);
      assert.equal((await metrics.cacheRedisErrors.get()).values.length, 0);
    } finally {
      await store.close();
    }
  });

  it('full (maxmemory reached, noeviction): writes are refused and counted, reads still answer', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const store = storeFor(server, metrics);
    const admin = server.client();
    try {
      await connected(store, metrics);
      store.set([{ key: 'before-full', value: Uint8Array.of(1) }]);
      await until(async () => (await admin.exists('test:before-full')) === 1, 'the write');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      store.set([{ key: 'after-full', value: new Uint8Array(1000) }]);
      await until(async () => (await redisErrors(metrics, 'write', 'error')) === 1, 'the refused write to be counted');
      assert.equal(await admin.exists('test:after-full'), 0);
      assert.deepEqual((await store.get(['before-full']))[0], Uint8Array.of(1));
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
      await store.close();
    }
  });
});

describe('Redis paused and killed', () => {
  it('paused (SIGSTOP): a read is a miss after the timeout, Redis is left alone for the backoff, and reads work again once it resumes', async () => {
    const server = await RedisServer.start();
    const metrics = createMetrics({ defaultMetrics: false });
    const store = storeFor(server, metrics);
    try {
      await connected(store, metrics);
      store.set([{ key: 'k', value: Uint8Array.of(7) }]);
      await until(async () => (await store.get(['k']))[0] !== undefined, 'the write');

      server.pause();
      let started = performance.now();
      assert.deepEqual(await store.get(['k']), [undefined]);
      const waited = performance.now() - started;
      assert.ok(waited >= TIMEOUT_MS - 5 && waited < TIMEOUT_MS + 250, `the read gave up after ${waited.toFixed(0)} ms`);
      assert.equal(await redisErrors(metrics, 'read', 'timeout'), 1);
      // Backing off: the next reads do not wait at all.
      started = performance.now();
      for (let i = 0; i < 5; i++) assert.deepEqual(await store.get(['k']), [undefined]);
      assert.ok(performance.now() - started < TIMEOUT_MS, 'reads during the backoff do not wait');
      assert.equal(await redisErrors(metrics, 'read', 'unavailable'), 5);
      store.set([{ key: 'dropped', value: Uint8Array.of(1) }]);
      assert.equal(await redisErrors(metrics, 'write', 'unavailable'), 1);

      server.resume();
      await new Promise((resolve) => setTimeout(resolve, REDIS_BACKOFF_MS));
      await until(async () => (await store.get(['k']))[0] !== undefined, 'reads to work again');
    } finally {
      server.resume();
      await store.close();
      await server.stop();
    }
  });

  it('killed: reads are misses at once and writes are dropped, every failure counted; nothing throws', async () => {
    const server = await RedisServer.start();
    const metrics = createMetrics({ defaultMetrics: false });
    const store = storeFor(server, metrics);
    try {
      await connected(store, metrics);
      await server.kill();
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await store.get(['a', 'b']), [undefined, undefined]);
        store.set([{ key: 'a', value: Uint8Array.of(1) }]);
      }
      assert.ok(performance.now() - started < 3 * TIMEOUT_MS + 100, 'no read waits for a server that is gone');
      await until(async () => {
        const values = (await metrics.cacheRedisErrors.get()).values;
        const reads = values.filter((v) => v.labels.operation === 'read').reduce((n, v) => n + v.value, 0);
        const writes = values.filter((v) => v.labels.operation === 'write').reduce((n, v) => n + v.value, 0);
        return reads === 3 && writes === 3;
      }, 'three failed reads and three dropped writes to be counted');
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('never logs the password of its URL', () => {
    assert.equal(redactRedisUrl('redis://user:s3cret@cache.internal:6380/2'), 'redis://cache.internal:6380/2');
    assert.equal(redactRedisUrl('rediss://:s3cret@cache.internal'), 'rediss://cache.internal');
  });
});
