/**
 * KServe Open Inference Protocol (v2) health and metadata routes through a real socket: with
 * the tiny-64 bundle served, while no model is loaded, and after shutdown began.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { type App, buildApp } from '../../src/http/app.js';
import type { RunningServer } from '../../src/http/server.js';
import { ServiceState } from '../../src/http/state.js';
import { createMetrics } from '../../src/metrics.js';
import { TINY, TINY_MODEL } from '../helpers/golden.js';
import { TEST_PROVIDER, startTestServer } from '../helpers/server.js';
import { testLogger } from '../helpers/silent-logger.js';

async function get(url: string) {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, any> };
}

describe('KServe v2 routes with the tiny-64 bundle', () => {
  let server: RunningServer;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('GET /v2/health/live and /v2/health/ready are 200 with the protocol bodies', async () => {
    assert.deepEqual(await get(`${server.url}/v2/health/live`), {
      status: 200,
      type: 'application/json; charset=utf-8',
      body: { live: true },
    });
    assert.deepEqual((await get(`${server.url}/v2/health/ready`)).body, { ready: true });
  });

  it('GET /v2/models/{name}/ready is 200 for a loaded model', async () => {
    const res = await get(`${server.url}/v2/models/${TINY_MODEL}/ready`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { name: TINY_MODEL, ready: true });
  });

  it("GET /v2/models/{name} lists every graph's inputs and outputs with protocol datatypes", async () => {
    const { status, body } = await get(`${server.url}/v2/models/${TINY_MODEL}`);
    assert.equal(status, 200);
    assert.equal(body.name, TINY_MODEL);
    assert.equal(body.platform, 'onnxruntime_onnx');
    assert.deepEqual(body.versions, ['1']);
    const R = TINY.imageSize;
    const N = TINY.numTokens;
    const D = TINY.dim;
    assert.deepEqual(body.inputs, [
      { name: 'vq_encoder.pixels', datatype: 'FP32', shape: [-1, 3, R, R] },
      { name: 'semantic_encoder.ids', datatype: 'INT64', shape: [-1, -1] },
      { name: 'vq_decoder.ids', datatype: 'INT64', shape: [-1, N] },
      { name: 'text_encoder.input_ids', datatype: 'INT64', shape: [-1, TINY.textContextLength] },
    ]);
    assert.deepEqual(body.outputs, [
      { name: 'vq_encoder.ids', datatype: 'INT64', shape: [-1, N] },
      { name: 'semantic_encoder.features', datatype: 'FP32', shape: [-1, -1, D] },
      { name: 'semantic_encoder.embedding', datatype: 'FP32', shape: [-1, D] },
      { name: 'vq_decoder.pixels', datatype: 'FP32', shape: [-1, 3, R, R] },
      { name: 'text_encoder.embedding', datatype: 'FP32', shape: [-1, D] },
    ]);
    assert.equal(body.parameters.execution_provider, TEST_PROVIDER);
    assert.equal(body.parameters.capabilities, 'tokenize,decode,encode_image,encode_tokens,encode_text');
    assert.equal(body.parameters.embedding_dim, D);
  });

  it('an unknown model is a 404 problem on both model routes', async () => {
    for (const path of ['/v2/models/no-such-model', '/v2/models/no-such-model/ready']) {
      const res = await get(`${server.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(res.type, 'application/problem+json; charset=utf-8');
      assert.equal(res.body.code, 'unknown_model');
    }
  });

  it('once shutdown begins, ready turns 503 shutting_down while live stays 200', async () => {
    server.state.beginShutdown();
    const ready = await get(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.code, 'shutting_down');
    assert.equal((await get(`${server.url}/v2/models/${TINY_MODEL}/ready`)).status, 503);
    assert.equal((await get(`${server.url}/v2/health/live`)).status, 200);
  });
});

describe('KServe v2 routes while no model is loaded', () => {
  let app: App;
  let base: string;

  before(async () => {
    const config = loadConfig({ TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '0' }, [], { cpuCount: 1, cwd: process.cwd() });
    app = await buildApp(config, { state: new ServiceState(), metrics: createMetrics(), logger: testLogger() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await app.close();
  });

  it('live is 200, ready and model routes are 503 not_ready with Retry-After', async () => {
    assert.equal((await get(`${base}/v2/health/live`)).status, 200);
    for (const path of ['/v2/health/ready', `/v2/models/${TINY_MODEL}`, `/v2/models/${TINY_MODEL}/ready`]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 503, path);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(((await res.json()) as { code: string }).code, 'not_ready');
    }
  });
});
