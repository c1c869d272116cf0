/**
 * Faults inside inference, through the real server: an ONNX Runtime error in one batch fails
 * exactly that batch's requests (500 problem, internals hidden) while other batches and later
 * requests succeed; a crashed worker answers 503 with Retry-After and is replaced.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import type { RunningServer } from '../../src/http/server.js';
import { createRequestContext } from '../../src/engine/index.js';
import { TINY } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';
import { WorkerFaults } from '../helpers/worker-faults.js';

describe('faults in inference', () => {
  let server: RunningServer;
  const faults = new WorkerFaults();
  const row = (k: number) => Array.from({ length: TINY.numTokens }, (_, i) => (i * 3 + k) % TINY.codebookSize);

  before(async () => {
    // A batch starts only when it holds 2 items (the 10 s delay does not pass in this test), so
    // which requests share a batch is known: two 1-text requests, or one 2-row token request.
    // No result cache: every request here must reach a worker (its faults are the subject).
    server = await startTestServer({ TOKLIP_MAX_BATCH: '2', TOKLIP_MAX_DELAY_MS: '10000', TOKLIP_CACHE_MB: '0' }, { faults });
  });
  after(() => server.close());

  it('an ONNX Runtime error fails only the requests of its batch', async () => {
    faults.failNextRun('text_encoder');
    const [a1, a2, b] = await Promise.all([
      postJson(`${server.url}/v1/encode`, { texts: ['a photo of a cat'] }, { 'x-request-id': 'batch-a-1' }),
      postJson(`${server.url}/v1/encode`, { texts: ['a dog'] }, { 'x-request-id': 'batch-a-2' }),
      postJson(`${server.url}/v1/encode`, { tokens: [row(0), row(1)] }, { 'x-request-id': 'batch-b' }),
    ]);
    for (const res of [a1, a2]) {
      assert.equal(res.status, 500, res.text);
      assert.equal(res.json.code, 'inference_failed');
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.match(res.json.detail, new RegExp(`^inference failed; quote request id ${res.json.instance}$`), 'ONNX Runtime internals stay in the log');
    }
    assert.equal(b.status, 200, b.text);
    assert.equal(b.json.embeddings.length, 2);

    // The failure was one batch: the same texts succeed now, and the server is ready.
    const again = await Promise.all([postJson(`${server.url}/v1/encode`, { texts: ['a photo of a cat'] }), postJson(`${server.url}/v1/encode`, { texts: ['a dog'] })]);
    for (const res of again) assert.equal(res.status, 200, res.text);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /toklip_http_requests_total\{route="\/v1\/encode",method="POST",status="500"\} 2/);
  });

  it('a crashed worker fails its batch with 503 and Retry-After, and its replacement serves the next requests', async () => {
    const ctx = createRequestContext({ requestId: 'crash', timeoutMs: 30_000 });
    // The worker that takes the next batch dies in the middle of it.
    faults.crashNextRun();
    const error = await server.engine.encodeTokens({ rows: [row(0), row(1)] }, ctx).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ServiceError);
    assert.equal(error.code, 'worker_crashed');
    assert.equal(error.status, 503);
    assert.equal(error.retryAfterSeconds, 1);
    const res = await postJson(`${server.url}/v1/encode`, { tokens: [row(2), row(3)] });
    assert.equal(res.status, 200, res.text);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });
});
