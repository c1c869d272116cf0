/**
 * Access control through a real socket: Bearer API keys (several, 401 with WWW-Authenticate,
 * public health and documentation routes), CORS off by default and on when configured, rate
 * limits per key (429 problem with Retry-After), security headers, and the OpenAPI document's
 * security when keys are configured.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { RunningServer } from '../../src/http/server.js';
import { ApiKeys } from '../../src/http/security/api-keys.js';
import { startTestServer } from '../helpers/server.js';

const KEY_A = 'test-key-aaaaaaaaaaaaaaaa';
const KEY_B = 'test-key-bbbbbbbbbbbbbbbb-2';
const ORIGIN = 'https://app.example.com';

function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  return fetch(url, { method, headers });
}

describe('ApiKeys', () => {
  it('matches every configured key, whatever the length of the presented one, and names it by position', () => {
    const keys = new ApiKeys([KEY_A, KEY_B]);
    assert.equal(keys.enabled, true);
    assert.deepEqual(keys.match(KEY_A), { id: 'key-1' });
    assert.deepEqual(keys.match(KEY_B), { id: 'key-2' });
    for (const wrong of ['', 'x', KEY_A.slice(0, -1), `${KEY_A}a`, KEY_A.toUpperCase(), 'z'.repeat(10_000)]) assert.equal(keys.match(wrong), undefined);
    assert.equal(new ApiKeys([]).enabled, false);
  });
});

describe('API keys, CORS and security headers', () => {
  let server: RunningServer;
  let url: string;

  before(async () => {
    server = await startTestServer({ TOKLIP_API_KEYS: `${KEY_A}, ${KEY_B}`, TOKLIP_CORS_ORIGINS: ORIGIN });
    url = server.url;
  });
  after(() => server.close());

  it('health and documentation answer without a key', async () => {
    for (const path of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready', '/openapi.json', '/docs/static/index.html']) {
      const res = await get(`${url}${path}`);
      assert.equal(res.status, 200, path);
    }
  });

  it('every other route, /metrics and unknown paths included, needs a key: 401 problem with WWW-Authenticate', async () => {
    const requests: [string, string][] = [
      ['GET', '/v1/models'],
      ['GET', '/metrics'],
      ['POST', '/v1/encode'],
      ['POST', '/v1/tokenize'],
      ['POST', '/v1/embeddings'],
      ['GET', '/v2/models/tiny-64'],
      ['GET', '/no/such/route'],
      // Spellings that must not reach a public route's exemption.
      ['GET', '//v1/models'],
      ['GET', '/v1/models/'],
      ['GET', '/healthz/../v1/models'],
      ['GET', '/%76%31/models'],
    ];
    for (const [method, path] of requests) {
      const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{"texts":["a"]}' } : {}) });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="toklip-serve"', path);
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const body = (await res.json()) as { code: string; detail: string };
      assert.equal(body.code, 'unauthorized');
      assert.match(body.detail, /needs an API key: send Authorization: Bearer <key>/);
    }
  });

  it('a wrong or malformed credential is 401 with the RFC 6750 error', async () => {
    const cases: [string, RegExp][] = [
      [`Bearer ${KEY_A}x`, /error="invalid_token"/],
      ['Bearer not-a-key-but-long-enough', /error="invalid_token"/],
      [`Basic ${Buffer.from(`user:${KEY_A}`).toString('base64')}`, /error="invalid_request"/],
      ['Bearer', /error="invalid_request"/],
      [`Bearer ${KEY_A} extra`, /error="invalid_request"/],
      [`Token ${KEY_A}`, /error="invalid_request"/],
    ];
    for (const [authorization, challenge] of cases) {
      const res = await get(`${url}/v1/models`, { authorization });
      assert.equal(res.status, 401, authorization);
      assert.match(res.headers.get('www-authenticate') ?? '', challenge);
      assert.equal(((await res.json()) as { code: string }).code, 'unauthorized');
    }
  });

  it('each configured key opens every route; the scheme name is case-insensitive', async () => {
    for (const authorization of [`Bearer ${KEY_A}`, `Bearer ${KEY_B}`, `bearer ${KEY_A}`]) {
      assert.equal((await get(`${url}/v1/models`, { authorization })).status, 200, authorization);
      assert.equal((await get(`${url}/metrics`, { authorization })).status, 200);
    }
    const encode = await fetch(`${url}/v1/encode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_B}`, 'content-type': 'application/json' },
      body: JSON.stringify({ texts: ['a photo of a cat'] }),
    });
    assert.equal(encode.status, 200);
    assert.equal((await get(`${url}/no/such/route`, { authorization: `Bearer ${KEY_A}` })).status, 404, 'with a key, unknown routes are 404');
  });

  it('CORS: preflights of the allowed origin pass without a key; other origins get no CORS headers', async () => {
    const preflight = await fetch(`${url}/v1/encode`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);

    const actual = await get(`${url}/v1/models`, { origin: ORIGIN, authorization: `Bearer ${KEY_A}` });
    assert.equal(actual.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(actual.headers.get('access-control-expose-headers') ?? '', /x-request-id/);

    const other = await get(`${url}/v1/models`, { origin: 'https://evil.example', authorization: `Bearer ${KEY_A}` });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('security headers: deny-all CSP, nosniff, no-store on the API; Swagger UI keeps its own CSP', async () => {
    for (const res of [await get(`${url}/v1/models`, { authorization: `Bearer ${KEY_A}` }), await get(`${url}/v1/models`)]) {
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('x-powered-by'), null);
    }
    const docs = await get(`${url}/docs/static/index.html`);
    assert.match(docs.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.doesNotMatch(docs.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    // Plain HTTP from any address: a browser told to upgrade would fetch the UI's scripts over https.
    assert.doesNotMatch(docs.headers.get('content-security-policy') ?? '', /upgrade-insecure-requests/);
    assert.match(docs.headers.get('content-security-policy') ?? '', /style-src [^;]*'unsafe-inline'/);
    assert.match(docs.headers.get('content-security-policy') ?? '', /script-src 'self'\s*;/, 'scripts stay self only');
    // Over plain HTTP, Cross-Origin-Opener-Policy is ignored by browsers (with a console error): not sent.
    assert.equal(docs.headers.get('cross-origin-opener-policy'), null);
  });

  it('the OpenAPI document requires bearerAuth on protected routes and documents their 401', async () => {
    const doc = (await (await get(`${url}/openapi.json`)).json()) as any;
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: 'http',
      scheme: 'bearer',
      description: 'API key as a Bearer token (this deployment requires one on every route but health and documentation)',
    });
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    for (const path of ['/v1/encode', '/v1/tokenize', '/metrics', '/v1/models']) {
      const op = Object.values(doc.paths[path])[0] as any;
      assert.match(op.responses['401'].description, /unauthorized: Missing or invalid API key/, path);
    }
    assert.deepEqual(doc.paths['/healthz'].get.security, []);
    assert.equal(doc.paths['/healthz'].get.responses['401'], undefined);
  });
});

describe('rate limit per API key (CORS off by default)', () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer({ TOKLIP_API_KEYS: `${KEY_A},${KEY_B}`, TOKLIP_RATE_LIMIT_MAX: '3', TOKLIP_RATE_LIMIT_WINDOW_MS: '60000' });
  });
  after(() => server.close());

  it('the 4th request of a key in the window is a 429 problem with Retry-After; other keys and health are not limited', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await get(`${server.url}/v1/models`, { authorization: `Bearer ${KEY_A}` });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.ok(Number(last!.headers.get('retry-after')) >= 1);
    assert.equal(last!.headers.get('x-ratelimit-limit'), '3');
    assert.match(last!.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = (await last!.json()) as { code: string; detail: string; status: number };
    assert.equal(problem.code, 'rate_limited');
    assert.equal(problem.status, 429);
    assert.match(problem.detail, /more than 3 requests in 60 s from this API key; retry in/);

    assert.equal((await get(`${server.url}/v1/models`, { authorization: `Bearer ${KEY_B}` })).status, 200, 'key 2 has its own budget');
    for (let i = 0; i < 5; i++) assert.equal((await get(`${server.url}/healthz`)).status, 200);
    assert.equal((await get(`${server.url}/readyz`)).status, 200);
  });

  it('CORS is off unless configured', async () => {
    const preflight = await fetch(`${server.url}/v1/encode`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assert.ok(preflight.status >= 400);
  });

  it('the OpenAPI document lists rate_limited with the 429 answers', async () => {
    const doc = (await (await get(`${server.url}/openapi.json`)).json()) as any;
    assert.match(doc.paths['/v1/encode'].post.responses['429'].description, /queue_full: .*; rate_limited: Rate limit exceeded/);
    assert.match(doc.paths['/v1/models'].get.responses['429'].description, /^rate_limited: Rate limit exceeded$/);
  });
});

describe('request logs', () => {
  it('name the API key by its position, never by its value', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    });
    const server = await startTestServer({ TOKLIP_API_KEYS: `${KEY_A},${KEY_B}` }, { logger: pino({ level: 'info' }, sink) });
    try {
      const res = await get(`${server.url}/v1/models`, { authorization: `Bearer ${KEY_B}`, 'x-request-id': 'logged-with-key-2' });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.equal((await get(`${server.url}/v1/models`, { authorization: `Bearer ${KEY_A}x` })).status, 401);
    } finally {
      await server.close();
    }
    const completed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.reqId === 'logged-with-key-2' && e.msg === 'request completed');
    assert.equal(completed?.apiKey, 'key-2', 'the completion log names the key');
    for (const line of lines) {
      assert.ok(!line.includes(KEY_A.slice(0, 12)) && !line.includes(KEY_B.slice(0, 12)), `a log line holds a key: ${line}`);
    }
  });
});
