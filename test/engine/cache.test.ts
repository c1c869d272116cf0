/**
 * The result cache without a server: the value layout (bit-identical round trips, corrupt
 * bytes refused), the keys, the in-process LRU's byte bound, and the ResultCache itself with
 * computing functions the tests control (per-item hits, partial hits, single flight, a failed
 * flight, errors naming the request's rows, tiers, corrupt values).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { FailureLog } from '../../src/engine/cache/failure-log.js';
import { createResultCache } from '../../src/engine/cache/index.js';
import { ENCODED_FILE, ENCODED_IMAGE, SEMANTIC_OUTPUT, TEXT_EMBEDDING, TOKENIZED_IMAGE } from '../../src/engine/cache/item-codecs.js';
import { CACHE_FORMAT, idsContent, itemKey, keyScope, sha256Hex } from '../../src/engine/cache/keys.js';
import { ENTRY_OVERHEAD_BYTES, MemoryStore, entryBytes } from '../../src/engine/cache/memory-store.js';
import { type Computed, type ItemRequest, NoCache, ResultCache, remapRow } from '../../src/engine/cache/result-cache.js';
import type { CacheEntry, CacheStore } from '../../src/engine/cache/store.js';
import { CorruptValueError, decodeRecord, encodeRecord } from '../../src/engine/cache/values.js';
import { createRequestContext } from '../../src/engine/context.js';
import { ServiceError } from '../../src/errors.js';
import type { SourceImageInfo } from '../../src/images/index.js';
import { type Metrics, createMetrics } from '../../src/metrics.js';
import { type ModelBundle, loadRegistry } from '../../src/models/registry.js';
import { FIXTURE_BUNDLES_DIR, TINY_MODEL } from '../helpers/golden.js';
import { testLogger } from '../helpers/silent-logger.js';

const SOURCE: SourceImageInfo = {
  format: 'png',
  width: 90,
  height: 60,
  orientation: 1,
  orientedWidth: 90,
  orientedHeight: 60,
  pages: 1,
  hasAlpha: false,
  space: 'srgb',
  depth: 'uchar',
};

/** Floats that a lossy round trip would change: NaN payloads, -0, subnormals, extremes. */
function awkwardFloats(n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = (Math.imul(i + 1, 2654435761) >>> 0) ^ (i % 7 === 0 ? 0x7fc00001 : 0);
  out[1] = -0;
  out[2] = 1e-45;
  out[3] = 3.4028234663852886e38;
  return out;
}

function sameBits(a: Float32Array | Uint32Array | Uint8Array, b: Float32Array | Uint32Array | Uint8Array): void {
  assert.equal(a.constructor, b.constructor);
  assert.deepEqual(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

describe('cached values', () => {
  it('read back bit for bit, for every operation, as fresh arrays', () => {
    const ids = Uint32Array.from({ length: 64 }, (_, i) => (i * 977) % 1024);
    const embedding = awkwardFloats(128);
    const features = awkwardFloats(64 * 128);

    const tokenized = TOKENIZED_IMAGE.decode(TOKENIZED_IMAGE.encode({ ids, source: SOURCE }));
    sameBits(tokenized.ids, ids);
    assert.deepEqual(tokenized.source, SOURCE);

    for (const withFeatures of [true, false]) {
      const encoded = ENCODED_IMAGE.decode(ENCODED_IMAGE.encode({ ids, embedding, features: withFeatures ? features : undefined, source: SOURCE }));
      sameBits(encoded.ids, ids);
      sameBits(encoded.embedding, embedding);
      if (withFeatures) sameBits(encoded.features!, features);
      else assert.equal(encoded.features, undefined);
    }
    const semantic = SEMANTIC_OUTPUT.decode(SEMANTIC_OUTPUT.encode({ embedding, features }));
    sameBits(semantic.embedding, embedding);
    sameBits(semantic.features!, features);
    sameBits(TEXT_EMBEDDING.decode(TEXT_EMBEDDING.encode(embedding)), embedding);
    const file = ENCODED_FILE.decode(ENCODED_FILE.encode({ mime: 'image/webp', data: Buffer.from([0, 1, 2, 255]) }));
    assert.equal(file.mime, 'image/webp');
    assert.deepEqual([...file.data], [0, 1, 2, 255]);

    // A decoded value owns its memory: changing it leaves the stored bytes alone.
    const bytes = TEXT_EMBEDDING.encode(embedding);
    const first = TEXT_EMBEDDING.decode(bytes);
    first.fill(7);
    sameBits(TEXT_EMBEDDING.decode(bytes), embedding);
  });

  it('reads arrays at any byte offset (values from Redis need not be aligned)', () => {
    const bytes = encodeRecord({ json: { a: 1 }, arrays: [Float32Array.of(1.5, -2.25)] });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const record = decodeRecord(shifted.subarray(3));
    sameBits(record.arrays[0]!, Float32Array.of(1.5, -2.25));
  });

  it('refuses bytes that are not a value: truncated, trailing, another layout, another kind', () => {
    const bytes = ENCODED_IMAGE.encode({ ids: Uint32Array.of(1, 2), embedding: Float32Array.of(1), features: undefined, source: SOURCE });
    assert.throws(() => ENCODED_IMAGE.decode(bytes.subarray(0, bytes.length - 1)), CorruptValueError);
    assert.throws(() => ENCODED_IMAGE.decode(Uint8Array.from([...bytes, 0])), CorruptValueError);
    assert.throws(() => ENCODED_IMAGE.decode(Uint8Array.from([9, ...bytes.subarray(1)])), CorruptValueError);
    assert.throws(() => ENCODED_IMAGE.decode(TEXT_EMBEDDING.encode(Float32Array.of(1))), CorruptValueError, 'a text embedding is no image value');
    assert.throws(() => TOKENIZED_IMAGE.decode(new Uint8Array(0)), CorruptValueError);
  });
});

describe('keys', () => {
  let model: ModelBundle;
  before(async () => {
    model = (await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false })).get(TINY_MODEL)!;
  });

  it("hold the bundle's digest (sha256 of manifest.json), the operation, the options and the input's sha256", async () => {
    const manifest = await readFile(join(FIXTURE_BUNDLES_DIR, TINY_MODEL, 'manifest.json'));
    assert.equal(model.digest, createHash('sha256').update(manifest).digest('hex'));
    const image = Buffer.from('image bytes');
    const key = itemKey(keyScope(model, 'encode_image', 'features'), image);
    assert.equal(key, `${CACHE_FORMAT}:${TINY_MODEL}:${model.digest}:encode_image:features:${createHash('sha256').update(image).digest('hex')}`);
    // Each part changes the key.
    const others = [
      itemKey(keyScope({ ...model, digest: sha256Hex('another bundle') }, 'encode_image', 'features'), image),
      itemKey(keyScope(model, 'tokenize', 'features'), image),
      itemKey(keyScope(model, 'encode_image', ''), image),
      itemKey(keyScope(model, 'encode_image', 'features'), Buffer.from('image bytez')),
    ];
    assert.equal(new Set([key, ...others]).size, 5);
  });

  it('hash id rows as uint32 little-endian and texts as UTF-8', () => {
    const ids = Uint32Array.of(1, 258, 70000);
    const le = Buffer.alloc(12);
    [1, 258, 70000].forEach((v, i) => le.writeUInt32LE(v, i * 4));
    assert.equal(sha256Hex(idsContent(ids)), createHash('sha256').update(le).digest('hex'));
    assert.equal(sha256Hex(idsContent(ids.subarray(1))), createHash('sha256').update(le.subarray(4)).digest('hex'));
    assert.equal(sha256Hex('a red circle é'), createHash('sha256').update(Buffer.from('a red circle é', 'utf8')).digest('hex'));
  });
});

describe('the in-process LRU', () => {
  it('stays within its byte bound, evicting the least recently used entries, and counts them', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const value = new Uint8Array(1000);
    const key = (i: number) => `k${String(i).padStart(3, '0')}`;
    const perEntry = entryBytes(key(0), value);
    assert.equal(perEntry, 1000 + 2 * 4 + ENTRY_OVERHEAD_BYTES);
    const store = new MemoryStore({ maxBytes: perEntry * 10, metrics });
    store.set(Array.from({ length: 10 }, (_, i) => ({ key: key(i), value })));
    assert.equal(store.entries, 10);
    assert.equal(store.bytes, perEntry * 10);
    // k000 is read, so k001 is now the least recently used.
    assert.ok((await store.get([key(0)]))[0]);
    store.set([{ key: key(10), value }, { key: key(11), value }]);
    assert.equal(store.entries, 10);
    assert.ok(store.bytes <= perEntry * 10);
    assert.equal(store.has(key(0)), true);
    assert.equal(store.has(key(1)), false);
    assert.equal(store.has(key(2)), false);
    assert.equal(store.has(key(3)), true);
    assert.equal((await metrics.cacheEvictions.get()).values[0]?.value, 2);
    assert.equal((await metrics.cacheBytes.get()).values[0]?.value, store.bytes);
    assert.equal((await metrics.cacheEntries.get()).values[0]?.value, 10);
    // A value larger than the whole bound is not kept (and evicts nothing).
    store.set([{ key: 'huge', value: new Uint8Array(perEntry * 11) }]);
    assert.equal(store.has('huge'), false);
    assert.equal(store.entries, 10);
  });
});

/** A store that counts what it is asked, for the tier tests. */
class RecordingStore implements CacheStore {
  readonly map = new Map<string, Uint8Array>();
  gets = 0;

  constructor(readonly name: 'memory' | 'redis') {}

  async get(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    this.gets++;
    return keys.map((k) => this.map.get(k));
  }

  set(entries: readonly CacheEntry[]): void {
    for (const { key, value } of entries) this.map.set(key, value);
  }

  async close(): Promise<void> {}
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves once the microtasks and timers queued so far have run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ResultCache', () => {
  let model: ModelBundle;
  let metrics: Metrics;
  before(async () => {
    model = (await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false })).get(TINY_MODEL)!;
  });

  const ctx = (timeoutMs = 30_000) => createRequestContext({ requestId: 'r', timeoutMs });
  /** Texts -> their "embedding" (the text's char codes), recording what was computed. */
  const textRequest = (inputs: string[], computed: string[][], compute?: (texts: readonly string[]) => Promise<Computed<Float32Array>>): ItemRequest<string, Float32Array> => ({
    operation: 'encode_text',
    model,
    variant: '',
    inputs,
    content: (text) => text,
    codec: TEXT_EMBEDDING,
    compute:
      compute ??
      (async (texts) => {
        computed.push([...texts]);
        return { values: texts.map((t) => Float32Array.from(t, (c) => c.charCodeAt(0) + 0.5)), timings: { queueMs: 1, inferenceMs: 2 } };
      }),
  });
  const counter = async (name: 'cacheHits' | 'cacheMisses', labels: Record<string, string>) =>
    (await metrics[name].get()).values.find((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))?.value ?? 0;

  it('computes only the missing items of a request, in order, and answers every position', async () => {
    metrics = createMetrics({ defaultMetrics: false });
    const memory = new RecordingStore('memory');
    const cache = new ResultCache([memory], { memoryBytes: 1, shared: false }, { metrics });
    const computed: string[][] = [];
    const first = await cache.through(textRequest(['a', 'b', 'c', 'd', 'e', 'f'], computed), ctx());
    assert.deepEqual(first.outcome, { hits: 0, misses: 6 });
    assert.deepEqual(first.timings, { queueMs: 1, inferenceMs: 2 });

    // 8 items of which 6 were seen: 2 computed, in their order.
    const second = await cache.through(textRequest(['f', 'x', 'a', 'b', 'y', 'c', 'd', 'e'], computed), ctx());
    assert.deepEqual(computed, [['a', 'b', 'c', 'd', 'e', 'f'], ['x', 'y']]);
    assert.deepEqual(second.outcome, { hits: 6, misses: 2 });
    assert.deepEqual(second.values.map((v) => String.fromCharCode(...Array.from(v, (x) => x - 0.5))), ['f', 'x', 'a', 'b', 'y', 'c', 'd', 'e']);

    // All seen: nothing computed, no work timed.
    const third = await cache.through(textRequest(['y', 'x'], computed), ctx());
    assert.equal(computed.length, 2);
    assert.deepEqual(third.outcome, { hits: 2, misses: 0 });
    assert.deepEqual(third.timings, { queueMs: 0, inferenceMs: 0 });
    assert.equal(await counter('cacheHits', { operation: 'encode_text', source: 'memory' }), 8);
    assert.equal(await counter('cacheMisses', { operation: 'encode_text' }), 8);
  });

  it('computes an item repeated within a request once', async () => {
    const cache = new ResultCache([new RecordingStore('memory')], { memoryBytes: 1, shared: false });
    const computed: string[][] = [];
    const result = await cache.through(textRequest(['q', 'r', 'q', 'q'], computed), ctx());
    assert.deepEqual(computed, [['q', 'r']]);
    assert.deepEqual(result.outcome, { hits: 0, misses: 4 });
    assert.equal(result.values[0], result.values[2]);
  });

  it('without a cache (NoCache) computes every item and reports no outcome', async () => {
    const computed: string[][] = [];
    const result = await new NoCache().through(textRequest(['a', 'a'], computed));
    assert.deepEqual(computed, [['a', 'a']]);
    assert.equal(result.outcome, undefined);
  });

  it('single flight: an item being computed for one request is not computed for another; the second waits for it', async () => {
    metrics = createMetrics({ defaultMetrics: false });
    const cache = new ResultCache([new RecordingStore('memory')], { memoryBytes: 1, shared: false }, { metrics });
    const gate = deferred<void>();
    const computed: string[][] = [];
    const slow = async (texts: readonly string[]) => {
      computed.push([...texts]);
      await gate.promise;
      return { values: texts.map(() => Float32Array.of(42)), timings: { queueMs: 5, inferenceMs: 6 } };
    };
    const first = cache.through(textRequest(['same', 'own-1'], computed, slow), ctx());
    await settle();
    const second = cache.through(textRequest(['same', 'own-2'], computed, slow), ctx());
    await settle();
    assert.deepEqual(computed, [['same', 'own-1'], ['own-2']], 'the second request computes only its own item');
    assert.equal(cache.inFlight, 3);
    gate.resolve();
    const [a, b] = await Promise.all([first, second]);
    sameBits(a.values[0]!, b.values[0]!);
    assert.notEqual(a.values[0], b.values[0], 'the waiting request gets a copy of its own');
    assert.deepEqual(b.outcome, { hits: 1, misses: 1 });
    assert.equal(await counter('cacheHits', { operation: 'encode_text', source: 'inflight' }), 1);
    assert.equal(cache.inFlight, 0);
  });

  it('a failed flight: whoever waited for it computes the item itself; the failure is its owner\'s alone', async () => {
    const cache = new ResultCache([new RecordingStore('memory')], { memoryBytes: 1, shared: false });
    const gate = deferred<void>();
    const computed: string[][] = [];
    const failing = async (texts: readonly string[]): Promise<Computed<Float32Array>> => {
      computed.push([...texts]);
      await gate.promise;
      throw new ServiceError('deadline_exceeded', 'request r passed its deadline');
    };
    const first = cache.through(textRequest(['t'], computed, failing), ctx());
    await settle();
    const second = cache.through(textRequest(['t'], computed), ctx());
    await settle();
    gate.resolve();
    await assert.rejects(first, { code: 'deadline_exceeded' });
    const result = await second;
    assert.deepEqual(computed, [['t'], ['t']]);
    assert.deepEqual(result.outcome, { hits: 0, misses: 1 });
    assert.deepEqual(Array.from(result.values[0]!), [116.5]);
  });

  it("a request waiting for another's item still ends at its own deadline", async () => {
    const cache = new ResultCache([new RecordingStore('memory')], { memoryBytes: 1, shared: false });
    const gate = deferred<void>();
    const computed: string[][] = [];
    const slow = async (texts: readonly string[]) => {
      await gate.promise;
      return { values: texts.map(() => Float32Array.of(1)), timings: { queueMs: 0, inferenceMs: 0 } };
    };
    const first = cache.through(textRequest(['w'], computed, slow), ctx());
    await settle();
    const hurried = ctx(20);
    await assert.rejects(cache.through(textRequest(['w'], computed), hurried), { code: 'deadline_exceeded' });
    assert.deepEqual(computed, []);
    gate.resolve();
    await first;
  });

  it("names the request's rows in errors of its missing items", async () => {
    const cache = new ResultCache([new RecordingStore('memory')], { memoryBytes: 1, shared: false });
    const computed: string[][] = [];
    await cache.through(textRequest(['ok-0', 'ok-1', 'ok-2'], computed), ctx());
    const failing = async (texts: readonly string[]): Promise<Computed<Float32Array>> => {
      const row = texts.indexOf('bad');
      throw new ServiceError('invalid_image', `images[${row}]: the image could not be decoded`, { extensions: { position: { row } } });
    };
    // 'bad' is the request's row 3 but the second item computed.
    await assert.rejects(cache.through(textRequest(['ok-0', 'new', 'ok-2', 'bad', 'ok-1'], computed, failing), ctx()), (error: unknown) => {
      assert.ok(error instanceof ServiceError);
      assert.equal(error.message, 'images[3]: the image could not be decoded');
      assert.deepEqual(error.extensions.position, { row: 3 });
      return true;
    });
    // Nothing of a failed request is cached.
    const again = await cache.through(textRequest(['new'], computed), ctx());
    assert.deepEqual(again.outcome, { hits: 0, misses: 1 });
  });

  it('remapRow leaves other errors alone', () => {
    const plain = new Error('x');
    assert.equal(remapRow(plain, [4]), plain);
    const unpositioned = new ServiceError('queue_full', 'full');
    assert.equal(remapRow(unpositioned, [4]), unpositioned);
  });

  it('looks tiers up in order, keeps a later tier\'s hit in the earlier ones, and writes computed values to all', async () => {
    metrics = createMetrics({ defaultMetrics: false });
    const memory = new RecordingStore('memory');
    const shared = new RecordingStore('redis');
    const cache = new ResultCache([memory, shared], { memoryBytes: 1, shared: true }, { metrics });
    const computed: string[][] = [];
    // Another replica computed 'r1'.
    const scope = keyScope(model, 'encode_text', '');
    shared.set([{ key: itemKey(scope, 'r1'), value: TEXT_EMBEDDING.encode(Float32Array.of(9)) }]);
    const result = await cache.through(textRequest(['r1', 'r2'], computed), ctx());
    assert.deepEqual(computed, [['r2']]);
    assert.deepEqual(Array.from(result.values[0]!), [9]);
    assert.ok(memory.map.has(itemKey(scope, 'r1')), 'the Redis hit is kept in memory');
    assert.ok(memory.map.has(itemKey(scope, 'r2')) && shared.map.has(itemKey(scope, 'r2')), 'the computed value goes to both');
    assert.equal(await counter('cacheHits', { operation: 'encode_text', source: 'redis' }), 1);
    // Both held in memory now: Redis is not asked.
    const redisGets = shared.gets;
    await cache.through(textRequest(['r1', 'r2'], computed), ctx());
    assert.equal(shared.gets, redisGets);
  });

  it('a stored value that does not parse is a miss, counted', async () => {
    metrics = createMetrics({ defaultMetrics: false });
    const memory = new RecordingStore('memory');
    const cache = new ResultCache([memory], { memoryBytes: 1, shared: false }, { metrics });
    memory.set([{ key: itemKey(keyScope(model, 'encode_text', ''), 'junk'), value: Uint8Array.of(1, 2, 3) }]);
    const computed: string[][] = [];
    const result = await cache.through(textRequest(['junk'], computed), ctx());
    assert.deepEqual(computed, [['junk']]);
    assert.deepEqual(result.outcome, { hits: 0, misses: 1 });
    assert.equal((await metrics.cacheCorrupt.get()).values[0]?.value, 1);
  });
});

describe('FailureLog', () => {
  it('logs the first failure at once and then at most once per interval, with the count in between', () => {
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    const log = { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as unknown as ConstructorParameters<typeof FailureLog>[0];
    let now = 0;
    const failures = new FailureLog(log, 'Redis failing', 1000, () => now);
    failures.report('read timeout');
    for (let i = 0; i < 5; i++) {
      now += 100;
      failures.report('read timeout');
    }
    assert.equal(lines.length, 1);
    now = 1000;
    failures.report('write error');
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.fields.failuresSinceLastLine, 5);
    assert.equal(lines[1]!.fields.reason, 'write error');
  });
});

describe('cache settings', () => {
  it('default to 128 MiB in process and no Redis; 0 turns the in-process cache off', async () => {
    const defaults = loadConfig({}, []).cache;
    assert.deepEqual(defaults, { memoryBytes: 128 * 1024 * 1024, redis: undefined });
    assert.equal(loadConfig({ TOKLIP_CACHE_MB: '0' }, []).cache.memoryBytes, 0);
    assert.equal(loadConfig({ TOKLIP_CACHE_MB: '0.5' }, []).cache.memoryBytes, 512 * 1024);
    const off = createResultCache(loadConfig({ TOKLIP_CACHE_MB: '0' }, []).cache, { log: testLogger() });
    assert.ok(off instanceof NoCache);
    assert.deepEqual(off.info, { enabled: false, memoryBytes: 0, shared: false });
    const memory = createResultCache(defaults, { log: testLogger() });
    assert.deepEqual(memory.info, { enabled: true, memoryBytes: 128 * 1024 * 1024, shared: false });
    await memory.close();
  });

  it('take a Redis URL with its TTL, prefix and timeout, and never repeat the URL in an error', () => {
    const cache = loadConfig(
      { TOKLIP_CACHE_REDIS_URL: 'rediss://:pw@cache:6380/1', TOKLIP_CACHE_REDIS_TTL_SECONDS: '60', TOKLIP_CACHE_REDIS_PREFIX: 'svc-a', TOKLIP_CACHE_REDIS_TIMEOUT_MS: '20' },
      [],
    ).cache;
    assert.deepEqual(cache.redis, { url: 'rediss://:pw@cache:6380/1', ttlSeconds: 60, prefix: 'svc-a', timeoutMs: 20 });
    for (const url of ['http://:secret@cache:6379', 'cache:6379 secret']) {
      assert.throws(
        () => loadConfig({ TOKLIP_CACHE_REDIS_URL: url }, []),
        (error: unknown) => error instanceof ConfigError && /TOKLIP_CACHE_REDIS_URL=\(hidden\): not a redis:\/\/ or rediss:\/\/ URL/.test(error.message) && !error.message.includes('secret'),
      );
    }
    assert.throws(() => loadConfig({ TOKLIP_CACHE_REDIS_PREFIX: 'has space' }, []), /TOKLIP_CACHE_REDIS_PREFIX/);
    assert.throws(() => loadConfig({ TOKLIP_CACHE_MB: '-1' }, []), /TOKLIP_CACHE_MB/);
  });
});
