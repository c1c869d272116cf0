/**
 * Admission by predicted wait through HTTP: the app with an engine on a fake clock and an
 * executor whose batches the test finishes, so that the measured batch time and the work ahead
 * are exact. A request that cannot be done before its deadline gets 429 queue_full problem+json
 * with Retry-After at once; one that can is served.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { type App, buildApp } from '../../src/http/app.js';
import { ServiceState } from '../../src/http/state.js';
import { type ImagePreprocessor, createImagePreprocessor } from '../../src/images/index.js';
import type { Engine } from '../../src/engine/index.js';
import { createMetrics } from '../../src/metrics.js';
import { loadRegistry } from '../../src/models/registry.js';
import { buildTestEngine } from '../helpers/engine.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { FIXTURE_BUNDLES_DIR, TINY, TINY_MODEL } from '../helpers/golden.js';
import { testLogger } from '../helpers/silent-logger.js';

describe('admission by predicted wait (HTTP)', () => {
  const config = loadConfig({ TOKLIP_MAX_BATCH: '16', TOKLIP_MAX_DELAY_MS: '0', TOKLIP_WORKERS: '1', TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '0' }, [], { cpuCount: 2, cwd: process.cwd() });
  const clock = new FakeClock();
  const executor = new FakeExecutor({ numTokens: TINY.numTokens, dim: TINY.dim, imageSize: TINY.imageSize }, { clock });
  const metrics = createMetrics({ defaultMetrics: false });
  let app: App;
  let images: ImagePreprocessor;
  let engine: Engine;
  let preprocessWaitMs: number | undefined;
  // The app is driven by inject() and a fake clock, with no socket or real timer of its own: on
  // a busy machine the event loop could find nothing to wait for while an image is decoded in
  // the (unref'd) preprocessing thread. A listening server keeps it alive in production.
  let keepAlive: NodeJS.Timeout;

  before(async () => {
    keepAlive = setInterval(() => {}, 1000);
    const registry = await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false, defaultModel: TINY_MODEL });
    images = createImagePreprocessor({ threads: 1 });
    // The real preprocessor, whose predicted preprocessing time a test may raise.
    const real = images;
    const withWait: ImagePreprocessor = {
      preprocess: (bytes, spec, options) => real.preprocess(bytes, spec, options),
      preprocessAll: (list, spec, options) => real.preprocessAll(list, spec, options),
      get queued() {
        return real.queued;
      },
      get running() {
        return real.running;
      },
      threads: real.threads,
      limits: real.limits,
      predictWaitMs: (n) => preprocessWaitMs ?? real.predictWaitMs(n),
      close: () => real.close(),
    };
    engine = buildTestEngine({ config, registry, executor, images: withWait, clock, metrics }).engine;
    app = await buildApp(config, { state: new ServiceState(engine), metrics, logger: testLogger() });
  });
  after(async () => {
    clearInterval(keepAlive);
    await app.close();
    await engine.close();
  });

  const encodeTokens = (headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/encode',
      headers: { 'content-type': 'application/json', ...headers },
      payload: { tokens: [Array.from({ length: TINY.numTokens }, (_, i) => i % TINY.codebookSize)] },
    });

  it('refuses at once with 429 problem+json and Retry-After when the predicted wait exceeds the deadline; serves what fits', async () => {
    // One batch of semantic_encoder measured at 1000 ms on the scheduler's clock.
    const first = encodeTokens();
    const measured = await executor.nextCall();
    clock.advance(1000);
    measured.finish();
    assert.equal((await first).statusCode, 200);

    // The only worker is busy for another 1000 ms: a request needs 2000 ms.
    const busy = encodeTokens();
    const running = await executor.nextCall();

    const refused = await encodeTokens({ 'x-request-timeout-ms': '2500' });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(refused.headers['retry-after'], '1');
    const problem = refused.json();
    assert.equal(problem.code, 'queue_full');
    assert.equal(problem.type, 'urn:toklip:error:queue_full');
    assert.equal(problem.status, 429);
    assert.equal(problem.reason, 'predicted_wait');
    assert.equal(problem.predicted_ms, 2000);
    // The deadline counts from the request's arrival: a little less than 2500 ms is left, 0.6 of it about 1500 ms.
    assert.ok(problem.remaining_ms <= 2500 && problem.remaining_ms > 2000, String(problem.remaining_ms));
    // TOKLIP_ADMISSION_WAIT_FRACTION 0.6 (the default): the work must be done within 0.6 of the time left.
    assert.match(problem.detail, /tiny-64\/semantic_encoder queue is too long for this request's deadline: its work would be done in about 2000 ms, but the limit is \d+ ms \(0\.6 of the \d+ ms left\)/);
    assert.equal(executor.calls.length, 2, 'the refused request reached no worker');

    const fits = encodeTokens({ 'x-request-timeout-ms': '10000' });
    running.finish();
    (await executor.nextCall()).finish();
    assert.equal((await busy).statusCode, 200);
    assert.equal((await fits).statusCode, 200);

    const text = await metrics.registry.metrics();
    assert.match(text, /toklip_refusals_total\{reason="predicted_wait",model="tiny-64"\} 1\n/);
    assert.match(text, /toklip_http_requests_total\{route="\/v1\/encode",method="POST",status="429"\} 1\n/);
  });

  it('an image request that would be refused is refused before its images are decoded', async () => {
    const image = (await readFile(new URL('../fixtures/images/inputs/rgb-37x50.png', import.meta.url))).toString('base64');
    const tokenize = (headers: Record<string, string> = {}) =>
      app.inject({ method: 'POST', url: '/v1/tokenize', headers: { 'content-type': 'application/json', ...headers }, payload: { images: [image] } });
    const preprocessed = async () => Number(/toklip_preprocess_time_seconds_count\{operation="tokenize"\} (\d+)/.exec(await metrics.registry.metrics())?.[1] ?? 0);

    // vq_encoder measured at 1000 ms, then busy for another 1000 ms.
    const first = tokenize();
    const measured = await executor.nextCall();
    assert.equal(measured.request.graph, 'vq_encoder');
    clock.advance(1000);
    measured.finish();
    assert.equal((await first).statusCode, 200);
    const busy = tokenize();
    const running = await executor.nextCall();
    assert.equal(await preprocessed(), 2);

    const refused = await tokenize({ 'x-request-timeout-ms': '2500' });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json().reason, 'predicted_wait');
    assert.match(refused.json().detail, /tiny-64\/vq_encoder queue is too long/);
    assert.equal(await preprocessed(), 2, 'its image was never decoded');

    running.finish();
    assert.equal((await busy).statusCode, 200);

    // Idle batchers, but its image would wait 5 s for a preprocessing thread.
    preprocessWaitMs = 5000;
    const behindImages = await tokenize({ 'x-request-timeout-ms': '3000' });
    preprocessWaitMs = undefined;
    assert.equal(behindImages.statusCode, 429);
    const { predicted_ms: predicted, remaining_ms: remaining } = behindImages.json();
    assert.equal(behindImages.headers['retry-after'], String(Math.ceil((predicted - 0.6 * remaining) / 1000)));
    assert.match(behindImages.json().detail, /\(its images preprocessed in about 5000 ms\)/);
    assert.equal(await preprocessed(), 2, 'its image was never decoded either');
    assert.match(await metrics.registry.metrics(), /toklip_refusals_total\{reason="predicted_wait",model="tiny-64"\} 3\n/);
  });
});
