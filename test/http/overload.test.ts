/**
 * Overload before the batchers: the image preprocessing queue is bounded (429 at once, whole
 * requests) and images still waiting when their request's deadline passes are dropped (504)
 * instead of being decoded for nobody.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { postJson, startTestServer } from '../helpers/server.js';

const PHOTO = new URL('../fixtures/images/inputs/rgb-2400x1600.jpg', import.meta.url);

describe('overload of the image preprocessing queue', () => {
  it('beyond TOKLIP_QUEUE_LIMIT waiting images, requests get 429 queue_full at once; the rest 200', async () => {
    // No result cache: the same photo 24 times would be decoded once (single flight), and the queue is the subject.
    const server = await startTestServer({ TOKLIP_IMAGE_THREADS: '1', TOKLIP_QUEUE_LIMIT: '4', TOKLIP_MAX_IMAGES_PER_REQUEST: '2', TOKLIP_CACHE_MB: '0' });
    try {
      const photo = (await readFile(PHOTO)).toString('base64');
      const results = await Promise.all(Array.from({ length: 24 }, () => postJson(`${server.url}/v1/tokenize`, { images: [photo] })));
      const statuses = results.map((r) => r.status);
      assert.deepEqual([...new Set(statuses)].sort(), [200, 429], statuses.join(','));
      const refused = results.filter((r) => r.status === 429);
      for (const r of refused) {
        assert.equal(r.json.code, 'queue_full');
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }
      const fromPreprocessing = refused.filter((r) => /the image preprocessing queue is full \(\d+ of 4 images waiting\)/.test(r.json.detail)).length;
      assert.ok(fromPreprocessing > 0, 'the preprocessing queue refused some');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.equal(Number(/toklip_refusals_total\{reason="preprocess_queue_limit",model="tiny-64"\} (\d+)/.exec(metrics)?.[1]), fromPreprocessing);
      assert.equal(server.engine.waitingImages, 0);
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('images still waiting at their deadline are dropped: 504 before the work queued ahead of them is done', async () => {
    // The backstop alone: admission by predicted wait (which would refuse them with 429 once the
    // time per image is measured) is off; so is the result cache (every image here must wait for its decoding).
    const server = await startTestServer({ TOKLIP_IMAGE_THREADS: '1', TOKLIP_QUEUE_LIMIT: '64', TOKLIP_ADMISSION_WAIT_FRACTION: '0', TOKLIP_CACHE_MB: '0' });
    try {
      const photo = (await readFile(PHOTO)).toString('base64');
      const order: string[] = [];
      const slow = Array.from({ length: 6 }, (_, i) =>
        postJson(`${server.url}/v1/encode`, { images: [photo, photo] }).then((r) => {
          order.push(`slow-${i}`);
          return r;
        }),
      );
      const hurried = Array.from({ length: 4 }, (_, i) =>
        postJson(`${server.url}/v1/tokenize`, { images: [photo] }, { 'x-request-timeout-ms': '150' }).then((r) => {
          order.push(`hurried-${i}`);
          return r;
        }),
      );
      for (const r of await Promise.all(hurried)) {
        assert.equal(r.status, 504, r.text);
        assert.equal(r.json.code, 'deadline_exceeded');
      }
      for (const r of await Promise.all(slow)) assert.equal(r.status, 200, r.text);
      // Had the hurried images waited for their turn, they would have finished after every slow one.
      assert.ok(order.indexOf('hurried-3') < order.indexOf('slow-5'), order.join(' '));
      assert.equal(server.engine.waitingImages, 0);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.equal(Number(/toklip_refusals_total\{reason="deadline",model="tiny-64"\} (\d+)/.exec(metrics)?.[1]), 4, 'the 504s are counted');
    } finally {
      await server.close();
    }
  });
});

/** Busy-waits `ms` of every `periodMs`: a stand-in for a saturated event loop, sustained across samples. */
function stallEventLoop(ms: number, periodMs: number): () => void {
  const timer = setInterval(() => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // busy
    }
  }, periodMs);
  return () => clearInterval(timer);
}

/** The admission controller samples the event loop every 0.5 s and offers no event: poll its state between stalls. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('load shedding', () => {
  it('while the event loop is behind, new requests get 503 overloaded with Retry-After; probes and metrics answer; then it recovers', async () => {
    const server = await startTestServer({ TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '20' });
    // The server runs in this process: stalling this event loop stalls the server's. A stall of
    // 400 ms every 450 ms puts at least one 400 ms delay in every sample (samples are >= 0.5 s
    // apart), so each sample's mean is at least (400 + 10 x 10) / 11 - 10 (the resolution) = 35 ms,
    // above the 20 ms limit whatever the machine's load; an idle loop's is near 0.
    let resume: (() => void) | undefined = stallEventLoop(400, 450);
    try {
      await until(() => server.engine.admission.shedding);
      const refused = await postJson(`${server.url}/v1/encode`, { texts: ['a photo of a cat'] });
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.json.code, 'overloaded');
      assert.match(refused.json.detail, /event loop is (\d+ ms|too far) behind \(limit 20 ms/);
      assert.equal(refused.headers.get('retry-after'), '1');
      for (const probe of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready', '/metrics']) {
        assert.equal((await fetch(`${server.url}${probe}`)).status, 200, `${probe} still answers`);
      }
      resume();
      resume = undefined;
      // Recovery: the next samples of an idle loop are under the limit.
      await until(() => !server.engine.admission.shedding);
      assert.equal((await postJson(`${server.url}/v1/encode`, { texts: ['a photo of a cat'] })).status, 200);
    } finally {
      resume?.();
      await server.close();
    }
  });
});
