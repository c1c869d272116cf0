/**
 * Batching under concurrency, overload (429), and a crashed worker (503, then replaced),
 * through the real server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { createRequestContext } from '../../src/engine/index.js';
import { ServiceError } from '../../src/errors.js';
import { postJson, startTestServer } from '../helpers/server.js';
import { WorkerFaults } from '../helpers/worker-faults.js';

async function distinctPngs(count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const size = 32;
      const raw = Buffer.alloc(size * size * 3);
      for (let i = 0; i < raw.length; i++) raw[i] = (i * (k + 3) * 7 + k * 13) % 256;
      return (await sharp(raw, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer()).toString('base64');
    }),
  );
}

function histogram(metrics: string, name: string, labels: string): { count: number; le1: number } {
  const count = Number(new RegExp(`${name}_count\\{${labels}\\} (\\d+)`).exec(metrics)?.[1]);
  const le1 = Number(new RegExp(`${name}_bucket\\{le="1",${labels}\\} (\\d+)`).exec(metrics)?.[1]);
  return { count, le1 };
}

describe('load', () => {
  it('64 concurrent single-image requests give exactly the sequential results, in batches > 1', async () => {
    // Result cache off: the concurrent requests repeat the sequential ones and would be answered from it.
    const server = await startTestServer({ TOKLIP_MAX_BATCH: '16', TOKLIP_MAX_DELAY_MS: '20', TOKLIP_IMAGE_THREADS: '2', TOKLIP_CACHE_MB: '0' });
    try {
      const images = await distinctPngs(64);
      const metricsOf = async () => (await fetch(`${server.url}/metrics`)).text();
      const sequential: unknown[] = [];
      const sequentialEmbeddings: number[][] = [];
      for (const image of images) sequential.push((await postJson(`${server.url}/v1/tokenize`, { images: [image] })).json);
      for (const image of images.slice(0, 16)) {
        sequentialEmbeddings.push((await postJson(`${server.url}/v1/encode`, { images: [image] })).json.embeddings[0]);
      }
      const before = histogram(await metricsOf(), 'toklip_batch_size', 'model="tiny-64",graph="vq_encoder"');
      assert.equal(before.count, before.le1, 'sequential requests run one at a time');

      const concurrent = await Promise.all(images.map((image) => postJson(`${server.url}/v1/tokenize`, { images: [image] })));
      concurrent.forEach((res, i) => assert.deepEqual(res.json, sequential[i], `request ${i}`));
      const after = histogram(await metricsOf(), 'toklip_batch_size', 'model="tiny-64",graph="vq_encoder"');
      const batches = after.count - before.count;
      assert.ok(batches < 64, `64 images in ${batches} batches`);
      assert.ok(after.le1 - before.le1 < batches, 'some batches held more than one image');

      // Embeddings: equal up to float32 rounding (ONNX Runtime kernels may sum in another order for another batch size).
      const embeddings = await Promise.all(images.slice(0, 16).map((image) => postJson(`${server.url}/v1/encode`, { images: [image] })));
      embeddings.forEach((res, i) => {
        const got = res.json.embeddings[0] as number[];
        got.forEach((x, k) => assert.ok(Math.abs(x - sequentialEmbeddings[i]![k]!) <= 1e-6, `request ${i}[${k}]`));
      });
    } finally {
      await server.close();
    }
  });

  it('overload: queue limit 4 and 50 concurrent requests give only 200s and 429s, and the server stays ready', async () => {
    const server = await startTestServer({
      TOKLIP_QUEUE_LIMIT: '4',
      TOKLIP_MAX_IMAGES_PER_REQUEST: '4',
      TOKLIP_MAX_BATCH: '16',
      TOKLIP_MAX_DELAY_MS: '100',
      // Result cache off: the 50 requests hold 4 distinct token rows, computed once each with it on.
      TOKLIP_CACHE_MB: '0',
    });
    try {
      const tokens = (i: number) => [Array.from({ length: 16 }, (_, k) => (i * 16 + k) % 64)];
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => postJson(`${server.url}/v1/encode`, { tokens: tokens(i) })));
      const statuses = results.map((r) => r.status);
      assert.deepEqual([...new Set(statuses)].sort(), [200, 429]);
      for (const r of results.filter((x) => x.status === 429)) {
        assert.equal(r.json.code, 'queue_full');
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
      const again = await postJson(`${server.url}/v1/encode`, { tokens: tokens(0) });
      assert.equal(again.status, 200);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const rejected = Number(/toklip_refusals_total\{reason="queue_limit",model="tiny-64"\} (\d+)/.exec(metrics)?.[1]);
      assert.equal(rejected, statuses.filter((s) => s === 429).length);
    } finally {
      await server.close();
    }
  });

  it('a crashed worker fails its running batch with 503 and is replaced', async () => {
    const faults = new WorkerFaults();
    const server = await startTestServer({ TOKLIP_MAX_DELAY_MS: '0' }, { faults });
    try {
      const ctx = createRequestContext({ requestId: 'crash-test', timeoutMs: 30_000 });
      // The worker that takes the next batch dies in the middle of it.
      faults.crashNextRun();
      await assert.rejects(server.engine.encodeTokens({ rows: [new Uint32Array(16)] }, ctx), (e: unknown) => {
        assert.ok(e instanceof ServiceError);
        assert.equal(e.status, 503);
        assert.equal(e.code, 'worker_crashed');
        return true;
      });
      const res = await postJson(`${server.url}/v1/encode`, { tokens: [Array(16).fill(1)] });
      assert.equal(res.status, 200, 'the replacement worker serves the next request');
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
      assert.match(await (await fetch(`${server.url}/metrics`)).text(), /toklip_worker_restarts_total 1/);
    } finally {
      await server.close();
    }
  });

  it('close() drains: queued requests finish, later ones are refused', async () => {
    const server = await startTestServer({ TOKLIP_MAX_DELAY_MS: '10000' });
    const ctx = createRequestContext({ requestId: 'drain', timeoutMs: 30_000 });
    // Held by the 10 s max delay: only the shutdown makes it run.
    const queued = server.engine.encodeTokens({ rows: [new Uint32Array(16).fill(3)] }, ctx);
    const closed = server.close();
    const result = await queued;
    assert.equal(result.value.length, 1);
    await closed;
    await assert.rejects(fetch(`${server.url}/healthz`));
  });
});
