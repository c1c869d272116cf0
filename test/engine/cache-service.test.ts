/**
 * The result cache in the running service (tiny-64 fixture bundle) with a real Redis
 * (test/helpers/redis.ts): answers from the cache are byte-identical to computed ones for every
 * operation, from memory and from Redis; `x-cache` says hit, miss or partial, and a partial hit
 * computes only the missing items; a changed bundle never reads the results of the old one;
 * Redis paused or killed mid-run leaves answers correct and in time, its failures counted; the
 * in-process cache stays within its byte bound.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { FIXTURE_BUNDLES_DIR, TINY, TINY_MODEL } from '../helpers/golden.js';
import { RedisServer } from '../helpers/redis.js';
import { startTestServer } from '../helpers/server.js';

/** A distinct picture per seed: a coloured background with a rectangle (PNG, or JPEG for odd seeds in `mixed`). */
async function picture(seed: number, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const colour = (k: number) => (seed * 67 + k * 101) % 256;
  const box = await sharp({ create: { width: 20 + (seed % 13), height: 14 + (seed % 7), channels: 3, background: { r: colour(3), g: colour(4), b: colour(5) } } })
    .png()
    .toBuffer();
  const image = sharp({ create: { width: 72 + (seed % 17), height: 64 + (seed % 11), channels: 3, background: { r: colour(0), g: colour(1), b: colour(2) } } }).composite([
    { input: box, left: seed % 23, top: seed % 19 },
  ]);
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 85 }).toBuffer();
}

const row = (k: number, length: number = TINY.numTokens) => Array.from({ length }, (_, i) => (i * 7 + k * 13) % TINY.codebookSize);

interface Answer {
  readonly status: number;
  readonly body: Buffer;
  readonly cache: string | null;
  readonly ms: number;
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const raw = Buffer.isBuffer(body);
  const started = performance.now();
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: raw ? headers : { 'content-type': 'application/json', ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  const answer = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body: answer, cache: res.headers.get('x-cache'), ms: performance.now() - started };
}

/** Value of one series in /metrics (0 when absent). */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const [series, value] = [line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1)];
    const bare = series.includes('{') ? series.slice(0, series.indexOf('{')) : series;
    if (bare !== name) continue;
    if (Object.entries(labels).every(([k, v]) => series.includes(`${k}="${v}"`))) total += Number(value);
  }
  return total;
}

/** Resolves when `condition` holds (polled: Redis offers no event for a key written by another client). */
async function until(condition: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Waits until the server's writes reach Redis: its connection comes up in the background after
 * the start (until then it computes everything and writes nothing), so warm-up texts are sent
 * until one of them lands in Redis.
 */
async function writingToRedis(server: RunningServer, redis: RedisServer): Promise<void> {
  const client = redis.client();
  try {
    for (let i = 0; ; i++) {
      const before = await client.dbsize();
      assert.equal((await post(server.url, '/v1/encode', { texts: [`warm-up ${server.url} ${i}`] })).status, 200);
      const landed = await until(async () => (await client.dbsize()) > before, 'a write', 300).then(
        () => true,
        () => false,
      );
      if (landed) return;
      if (i > 50) throw new Error(`${server.url} never wrote to Redis`);
    }
  } finally {
    client.disconnect();
  }
}

interface Case {
  readonly name: string;
  readonly path: string;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/** One request per operation and option that changes a result, each on inputs of its own. */
async function everyOperation(): Promise<Case[]> {
  const b64 = async (seed: number, format: 'png' | 'jpeg' = 'png') => (await picture(seed, format)).toString('base64');
  return [
    { name: 'tokenize, JSON', path: '/v1/tokenize', body: { images: [await b64(1), await b64(2, 'jpeg')] } },
    { name: 'tokenize, raw body, base64 ids', path: '/v1/tokenize?ids_format=base64', body: await picture(3), headers: { 'content-type': 'image/png' } },
    { name: 'encode images with features', path: '/v1/encode', body: { images: [await b64(4), await b64(5)], output: 'both' } },
    { name: 'encode images, raw, base64 embeddings', path: '/v1/encode', body: { images: [await b64(6, 'jpeg')], normalize: false, encoding_format: 'base64' } },
    { name: 'encode tokens: rows and a prefix, with features', path: '/v1/encode', body: { tokens: [row(1), row(2), row(3, 5)], output: 'both' } },
    { name: 'encode texts', path: '/v1/encode', body: { texts: ['a photo of a cat', 'a dog', 'its photo'] } },
    { name: 'decode png', path: '/v1/decode', body: { tokens: [row(4), row(5)], format: 'png' } },
    { name: 'decode jpeg quality 70', path: '/v1/decode', body: { tokens: [row(6)], format: 'jpeg', quality: 70 } },
    { name: 'decode webp, bare file', path: '/v1/decode', body: { tokens: [row(7)] }, headers: { accept: 'image/webp' } },
    { name: 'similarity from images', path: '/v1/similarity', body: { images: [await b64(7), await b64(8)], texts: ['a cat', 'a photo of a dog'] } },
    { name: 'similarity from tokens', path: '/v1/similarity', body: { tokens: [row(8), row(9, 3)], texts: ['of a cat', 'a dog photo'] } },
    { name: 'OpenAI embeddings of texts', path: '/v1/embeddings', body: { input: ['its cat', 'a dog of a photo'] } },
    { name: 'OpenAI embeddings of images', path: '/v1/embeddings', body: { input: [`data:image/png;base64,${await b64(9)}`], modality: 'image' } },
  ];
}

describe('the result cache in the service, with a real Redis', () => {
  let redis: RedisServer;
  let computed: RunningServer;
  let cached: RunningServer;
  let fromRedis: RunningServer;
  let cases: Case[];
  /** The reference: each case's answer with caching off. */
  const reference = new Map<string, Buffer>();

  before(async () => {
    redis = await RedisServer.start();
    cases = await everyOperation();
    computed = await startTestServer({ TOKLIP_CACHE_MB: '0' });
    cached = await startTestServer({ TOKLIP_CACHE_REDIS_URL: redis.url });
    // Redis only: every hit of this one comes from Redis.
    fromRedis = await startTestServer({ TOKLIP_CACHE_MB: '0', TOKLIP_CACHE_REDIS_URL: redis.url });
    await writingToRedis(cached, redis);
    await writingToRedis(fromRedis, redis);
    for (const c of cases) {
      const answer = await post(computed.url, c.path, c.body, c.headers);
      assert.equal(answer.status, 200, `${c.name}: ${answer.body.toString()}`);
      assert.equal(answer.cache, null, 'no x-cache header with caching off');
      reference.set(c.name, answer.body);
    }
  });
  after(async () => {
    await Promise.all([computed?.close(), cached?.close(), fromRedis?.close()]);
    await redis?.stop();
  });

  it('/v1/models says whether caching is on, and names the bundle by its checksum', async () => {
    const list = async (server: RunningServer) => ((await (await fetch(`${server.url}/v1/models`)).json()) as { data: { cache: unknown; bundle_sha256: string }[] }).data[0]!;
    assert.deepEqual((await list(computed)).cache, { enabled: false, memory_bytes: 0, shared: false });
    assert.deepEqual((await list(cached)).cache, { enabled: true, memory_bytes: 128 * 1024 * 1024, shared: true });
    assert.deepEqual((await list(fromRedis)).cache, { enabled: true, memory_bytes: 0, shared: true });
    assert.match((await list(cached)).bundle_sha256, /^[0-9a-f]{64}$/);
  });

  it('every operation: the computed answer (miss), the answer from memory and from Redis (hits) are byte-identical to caching off', async () => {
    const client = redis.client();
    after(() => client.disconnect());
    // The other replica's own work so far (its warm-up texts).
    const [replicaMisses, replicaBatches] = [await metric(fromRedis.url, 'toklip_cache_misses_total'), await metric(fromRedis.url, 'toklip_batch_size_count')];
    for (const c of cases) {
      const expected = reference.get(c.name)!;
      const [keysBefore, missesBefore] = [await client.dbsize(), await metric(cached.url, 'toklip_cache_misses_total')];
      const first = await post(cached.url, c.path, c.body, c.headers);
      assert.equal(first.status, 200, c.name);
      assert.equal(first.cache, 'miss', `${c.name}: first call`);
      assert.ok(first.body.equals(expected), `${c.name}: computed with the cache on`);
      // Writes to Redis are not waited for by the request: wait for them here, before another replica asks.
      const computedItems = (await metric(cached.url, 'toklip_cache_misses_total')) - missesBefore;
      await until(async () => (await client.dbsize()) === keysBefore + computedItems, `${c.name}: ${computedItems} items written to Redis`);
      const again = await post(cached.url, c.path, c.body, c.headers);
      assert.equal(again.cache, 'hit', `${c.name}: second call`);
      assert.ok(again.body.equals(expected), `${c.name}: from memory`);
      const shared = await post(fromRedis.url, c.path, c.body, c.headers);
      assert.equal(shared.cache, 'hit', `${c.name}: another replica`);
      assert.ok(shared.body.equals(expected), `${c.name}: from Redis`);
    }
    assert.ok((await metric(fromRedis.url, 'toklip_cache_hits_total', { source: 'redis' })) >= cases.length);
    assert.equal(await metric(fromRedis.url, 'toklip_cache_misses_total'), replicaMisses, 'the other replica computed nothing');
    assert.equal(await metric(fromRedis.url, 'toklip_batch_size_count'), replicaBatches, 'and ran no batch');
  });

  it('a request of 8 images of which 6 were seen computes 2 (x-cache: partial); its hits skip decoding, admission and batches', async () => {
    const seen = await Promise.all([20, 21, 22, 23, 24, 25].map((s) => picture(s)));
    const fresh = await Promise.all([26, 27].map((s) => picture(s)));
    const warm = await post(cached.url, '/v1/encode', { images: seen.map((b) => b.toString('base64')) });
    assert.equal(warm.cache, 'miss');
    const items = () => metric(cached.url, 'toklip_batch_size_sum', { graph: 'vq_encoder' });
    const decodings = () => metric(cached.url, 'toklip_preprocess_time_seconds_count');
    const [itemsBefore, decodingsBefore, missesBefore] = [await items(), await decodings(), await metric(cached.url, 'toklip_cache_misses_total', { operation: 'encode_image' })];
    const order = [seen[0], fresh[0], seen[1], seen[2], seen[3], fresh[1], seen[4], seen[5]].map((b) => b!.toString('base64'));
    const mixed = await post(cached.url, '/v1/encode', { images: order });
    assert.equal(mixed.status, 200);
    assert.equal(mixed.cache, 'partial');
    assert.equal((await items()) - itemsBefore, 2, 'two images went through vq_encoder');
    assert.equal((await decodings()) - decodingsBefore, 1, 'one preprocessing, of the two new images');
    assert.equal((await metric(cached.url, 'toklip_cache_misses_total', { operation: 'encode_image' })) - missesBefore, 2);
    // Same answer as computing all eight.
    const reference8 = await post(computed.url, '/v1/encode', { images: order });
    assert.ok(mixed.body.equals(reference8.body));
    // similarity reuses the embeddings of encode (no features): nothing to compute for its images.
    const scores = await post(cached.url, '/v1/similarity', { images: order.slice(0, 2), texts: ['a photo of a cat'] });
    assert.equal(scores.status, 200);
    assert.equal(await items(), itemsBefore + 2, 'similarity computed no image');
  });

  it('a changed bundle (same model id, another checksum) never reads the results of the old one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'toklip-bundle-change-'));
    try {
      await cp(join(FIXTURE_BUNDLES_DIR, TINY_MODEL), join(root, TINY_MODEL), { recursive: true });
      const manifestPath = join(root, TINY_MODEL, 'manifest.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { description: string };
      manifest.description = `${manifest.description} (re-exported)`;
      await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
      const changed = await startTestServer({ TOKLIP_MODELS_DIR: root, TOKLIP_CACHE_MB: '0', TOKLIP_CACHE_REDIS_URL: redis.url });
      try {
        const digests = await Promise.all(
          [cached, changed].map(async (s) => ((await (await fetch(`${s.url}/v1/models`)).json()) as { data: { bundle_sha256: string }[] }).data[0]!.bundle_sha256),
        );
        assert.notEqual(digests[0], digests[1]);
        const c = cases[0]!;
        assert.equal((await post(fromRedis.url, c.path, c.body)).cache, 'hit', 'Redis holds this answer for the old bundle');
        const answer = await post(changed.url, c.path, c.body);
        assert.equal(answer.cache, 'miss', 'the new bundle computes it');
        assert.ok(answer.body.equals(reference.get(c.name)!));
        const client = redis.client();
        try {
          const keys = (digest: string) => client.keys(`toklip:v1:${TINY_MODEL}:${digest}:tokenize:*`);
          await assert.doesNotReject(async () => {
            for (let i = 0; (await keys(digests[1]!)).length < 2; i++) {
              if (i > 200) throw new Error('the new bundle wrote no keys');
              await new Promise((resolve) => setTimeout(resolve, 10));
            }
          });
          assert.ok((await keys(digests[0]!)).length >= 2, 'the old entries stay under their own prefix');
        } finally {
          client.disconnect();
        }
        assert.equal((await post(changed.url, c.path, c.body)).cache, 'hit');
      } finally {
        await changed.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('Redis paused (SIGSTOP): answers come within their deadline, computed, and the timeout is counted', async () => {
    const c = cases.find((x) => x.name === 'encode texts')!;
    const fresh = { texts: ['a cat photo of its dog'] };
    redis.pause();
    try {
      const [known, unknown] = [await post(fromRedis.url, c.path, c.body, { 'x-request-timeout-ms': '2000' }), await post(fromRedis.url, '/v1/encode', fresh, { 'x-request-timeout-ms': '2000' })];
      for (const answer of [known, unknown]) {
        assert.equal(answer.status, 200, answer.body.toString());
        assert.ok(answer.ms < 2000, `answered in ${answer.ms.toFixed(0)} ms`);
        assert.equal(answer.cache, 'miss');
      }
      assert.ok(known.body.equals(reference.get(c.name)!));
      assert.ok((await metric(fromRedis.url, 'toklip_cache_redis_errors_total', { operation: 'read', reason: 'timeout' })) >= 1);
    } finally {
      redis.resume();
    }
  });

  it('Redis killed mid-run: every answer is still correct, and the failures are counted', async () => {
    const c = cases.find((x) => x.name === 'encode images with features')!;
    const expected = reference.get(c.name)!;
    const failuresBefore = await metric(fromRedis.url, 'toklip_cache_redis_errors_total');
    let killed = false;
    const answers: Answer[] = [];
    const client = async (n: number) => {
      for (let i = 0; i < n; i++) answers.push(await post(fromRedis.url, c.path, c.body));
    };
    const kill = async () => {
      // Mid-run: once some answers came from Redis.
      while (answers.length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
      await redis.kill();
      killed = true;
    };
    await Promise.all([client(12), client(12), kill()]);
    assert.ok(killed);
    assert.equal(answers.length, 24);
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.ok(answer.body.equals(expected), 'a correct answer before and after the kill');
    }
    assert.ok(answers.some((a) => a.cache === 'hit') && answers.some((a) => a.cache === 'miss'), answers.map((a) => a.cache).join(','));
    assert.ok((await metric(fromRedis.url, 'toklip_cache_redis_errors_total')) > failuresBefore, 'the failures are counted');
  });
});

describe('the in-process cache at its byte bound', () => {
  let server: RunningServer;
  const BOUND = 0.01; // MiB: room for about a dozen tokenize results of tiny-64
  before(async () => {
    server = await startTestServer({ TOKLIP_CACHE_MB: String(BOUND) });
  });
  after(() => server?.close());

  it('evicts the least recently used results and never holds more bytes than TOKLIP_CACHE_MB', async () => {
    const images = await Promise.all(Array.from({ length: 40 }, (_, i) => picture(100 + i)));
    for (const image of images) {
      const answer = await post(server.url, '/v1/tokenize', image, { 'content-type': 'image/png' });
      assert.equal(answer.status, 200);
      assert.ok((await metric(server.url, 'toklip_cache_bytes')) <= BOUND * 1024 * 1024);
    }
    const entries = await metric(server.url, 'toklip_cache_entries');
    assert.ok(entries > 3 && entries < 40, `${entries} entries`);
    assert.equal(await metric(server.url, 'toklip_cache_evictions_total'), 40 - entries);
    assert.equal((await post(server.url, '/v1/tokenize', images[39]!, { 'content-type': 'image/png' })).cache, 'hit', 'the newest is kept');
    assert.equal((await post(server.url, '/v1/tokenize', images[0]!, { 'content-type': 'image/png' })).cache, 'miss', 'the oldest was evicted');
  });
});
