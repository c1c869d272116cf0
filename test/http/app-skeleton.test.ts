/**
 * The HTTP skeleton through a real socket: health routes, metrics, OpenAPI, request ids and
 * the problem+json error handler (walking the whole error table), without any model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Type from 'typebox';
import { loadConfig } from '../../src/config/index.js';
import { ERROR_TABLE, type ErrorCode, ServiceError } from '../../src/errors.js';
import { type App, buildApp } from '../../src/http/app.js';
import { ServiceState } from '../../src/http/state.js';
import { createMetrics } from '../../src/metrics.js';
import { testLogger } from '../helpers/silent-logger.js';

// The app shares its event loop with the test code on a busy machine: no load shedding (test/http/overload.test.ts tests it).
const config = loadConfig({ TOKLIP_BODY_LIMIT_MB: '1', TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '0' }, [], { cpuCount: 2, cwd: process.cwd() });

describe('HTTP skeleton (no models)', () => {
  let app: App;
  let base: string;

  before(async () => {
    app = await buildApp(config, { state: new ServiceState(), metrics: createMetrics(), logger: testLogger() });
    app.post('/test/throw/:code', async (request) => {
      const { code } = request.params as { code: ErrorCode };
      throw new ServiceError(code, `thrown ${code}`, { retryAfterSeconds: code === 'queue_full' ? 3 : undefined });
    });
    app.post('/test/crash', async () => {
      throw new Error('secret internal path /etc/passwd');
    });
    app.post('/test/echo', { schema: { body: Type.Object({ n: Type.Integer() }, { additionalProperties: false }) } }, async (request) => request.body);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    await app.close();
  });

  it('GET /healthz answers while no model is loaded', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('GET /readyz is 503 problem+json until the models are ready', async () => {
    const res = await fetch(`${base}/readyz`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.code, 'not_ready');
    assert.equal(body.type, 'urn:toklip:error:not_ready');
  });

  it('API routes answer 503 not_ready while loading', async () => {
    const res = await fetch(`${base}/v1/models`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
  });

  it('honours an incoming x-request-id and makes one otherwise', async () => {
    const mine = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(mine.headers.get('x-request-id'), 'abc-123');
    const made = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'bad id with spaces' } });
    assert.match(made.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  });

  it('every ServiceError code becomes its status with an RFC 9457 body', async () => {
    for (const [code, spec] of Object.entries(ERROR_TABLE)) {
      const res = await fetch(`${base}/test/throw/${code}`, { method: 'POST', headers: { 'x-request-id': `walk-${code}` } });
      assert.equal(res.status, spec.status, code);
      assert.match(res.headers.get('content-type')!, /^application\/problem\+json/);
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(body.title, spec.title);
      assert.equal(body.status, spec.status);
      assert.equal(body.code, code);
      assert.equal(body.instance, `walk-${code}`);
      if (code === 'internal' || code === 'inference_failed') assert.doesNotMatch(String(body.detail), /thrown/);
      else assert.equal(body.detail, `thrown ${code}`);
      if (code === 'queue_full') assert.equal(res.headers.get('retry-after'), '3');
    }
  });

  it('hides the internals of unexpected errors', async () => {
    const res = await fetch(`${base}/test/crash`, { method: 'POST' });
    assert.equal(res.status, 500);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.code, 'internal');
    assert.doesNotMatch(JSON.stringify(body), /passwd/);
  });

  it('maps Fastify errors: validation 400, malformed JSON 400, body limit 413, media type 415, unknown route 404', async () => {
    const post = (body: string | Uint8Array, type: string) =>
      fetch(`${base}/test/echo`, { method: 'POST', headers: { 'content-type': type }, body });
    const invalid = await post('{"n":"x"}', 'application/json');
    assert.equal(invalid.status, 400);
    const invalidBody = (await invalid.json()) as Record<string, unknown>;
    assert.equal(invalidBody.code, 'validation_failed');
    assert.match(String(invalidBody.detail), /^n must be integer$/);

    const unknownField = (await (await post('{"n":1,"m":2}', 'application/json')).json()) as Record<string, unknown>;
    assert.match(String(unknownField.detail), /^the JSON body has an unknown member 'm' \(unknown members are refused\)$/);

    const malformed = await post('{"n":', 'application/json');
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as Record<string, unknown>).code, 'invalid_json');

    const big = await post(new Uint8Array(1024 * 1024 + 10).fill(32), 'application/json');
    assert.equal(big.status, 413);
    assert.match(String(((await big.json()) as Record<string, unknown>).detail), /limit of 1048576 bytes \(1 MiB\)/);

    const xml = await post('<n>1</n>', 'application/xml');
    assert.equal(xml.status, 415);
    assert.equal(((await xml.json()) as Record<string, unknown>).code, 'unsupported_media_type');

    const missing = await fetch(`${base}/v2/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Record<string, unknown>).code, 'not_found');
  });

  it('GET /metrics exposes toklip_* metrics counting requests by route and status', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /toklip_http_requests_total\{route="\/healthz",method="GET",status="200"\} \d+/);
    assert.match(text, /toklip_http_requests_total\{route="\/readyz",method="GET",status="503"\} 1/);
    assert.match(text, /# TYPE toklip_batch_size histogram/);
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/v1/models']);
    const ui = await fetch(`${base}/docs/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /swagger/i);
  });
});
