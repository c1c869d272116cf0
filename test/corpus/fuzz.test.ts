/**
 * Property-based fuzzing of every route with fast-check: valid requests mutated, random JSON,
 * mangled JSON text, mangled multipart bodies and random bytes under random content types, with
 * random query strings and headers. Every answer must be a 200 or a 4xx problem (never a 5xx),
 * arrive within the per-request timeout (never a hang), and the server must be ready at the end.
 *
 * Seeded and bounded for CI; the seed is printed. Reproduce or extend a run with
 *   FUZZ_SEED=<seed> FUZZ_RUNS=2000 node --import tsx --test test/corpus/fuzz.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { TINY, loadGolden } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';
import { multipartBody } from './corpus.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) | 0;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const REQUEST_TIMEOUT_MS = 20_000;

const POST_ROUTES = ['/v1/tokenize', '/v1/encode', '/v1/decode', '/v1/similarity', '/v1/embeddings'] as const;
const OTHER_ROUTES = [
  '/v1/models', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/v1/nope',
  '/v2/health/live', '/v2/health/ready', '/v2/models/tiny-64', '/v2/models/tiny-64/ready', '/v2/models/%E0%A4%A', `/v2/models/${'x'.repeat(120)}`,
] as const;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;
const KEYS = ['images', 'tokens', 'tokens_base64', 'texts', 'input', 'modality', 'dimensions', 'model', 'ids_format', 'format', 'quality', 'output', 'normalize', 'encoding_format'];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'image/png',
  'image/jpeg',
  'image/svg+xml',
  'multipart/form-data; boundary=fuzz',
  'multipart/form-data',
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  '',
];

type Body = Record<string, unknown>;

interface FuzzRequest {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | undefined;
}

function bytesOf(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text));
}

/** Rewrites one base64 image of a body through a byte-level change of the decoded file. */
function mutateImage(body: Body, change: (bytes: Buffer) => Buffer): void {
  const images = body.modality === 'image' ? body.input : body.images;
  if (!Array.isArray(images) || typeof images[0] !== 'string') return;
  images[0] = change(Buffer.from(images[0], 'base64')).toString('base64');
}

describe(`fuzz (fast-check seed ${SEED}, ${RUNS} runs)`, () => {
  let server: RunningServer;
  let bases: Record<(typeof POST_ROUTES)[number], Body[]>;
  let png: Buffer;

  before(async () => {
    // Printed so that a failure in CI can be replayed with FUZZ_SEED.
    process.stdout.write(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} to replay), ${RUNS} runs\n`);
    server = await startTestServer({ TOKLIP_MAX_IMAGES_PER_REQUEST: '8', TOKLIP_BODY_LIMIT_MB: '1' });
    const golden = await loadGolden();
    png = golden.images[0]!;
    const jpeg = await sharp(golden.images[1]!).jpeg({ quality: 80 }).toBuffer();
    const gif = await sharp(golden.images[2]!).gif().toBuffer();
    const ids = (await golden.rows('ids'))[0]!;
    const idsBase64 = Buffer.from(new Uint16Array(ids).buffer).toString('base64');
    const texts = ['a photo of a cat', 'a red car on a street'];
    bases = {
      '/v1/tokenize': [{ images: [png.toString('base64')] }, { images: [jpeg.toString('base64'), gif.toString('base64')], ids_format: 'base64' }],
      '/v1/encode': [
        { images: [jpeg.toString('base64')], output: 'both' },
        { tokens: [ids] },
        { tokens_base64: [idsBase64], normalize: false },
        { texts },
        { tokens: [ids.slice(0, 5)], output: 'features', encoding_format: 'base64' },
      ],
      '/v1/decode': [{ tokens: [ids], format: 'webp', quality: 50 }, { tokens_base64: [idsBase64] }],
      '/v1/similarity': [{ images: [gif.toString('base64')], texts }, { tokens: [ids], texts }],
      '/v1/embeddings': [{ input: texts[0] }, { input: texts, encoding_format: 'base64' }, { input: [png.toString('base64')], modality: 'image' }],
    };
  });
  after(() => server.close());

  function arbitraries() {
    const json = fc.jsonValue({ maxDepth: 3 });
    const hostileNumber = fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(-1, -0, 0.5, TINY.codebookSize, 65535, 65536, 2 ** 32, 2 ** 32 + 1, 2 ** 53 + 2, 1e300, -1e300),
    );
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ unit: 'grapheme', maxLength: 64 }), fc.string({ maxLength: 5000 }));
    const mutation: fc.Arbitrary<(b: Body) => void> = fc.oneof(
      fc.constantFrom(...KEYS).map((k) => (b: Body) => void delete b[k]),
      fc.tuple(fc.constantFrom(...KEYS, 'extra', '__proto__'), json).map(([k, v]) => (b: Body) => void Object.defineProperty(b, k, { value: v, enumerable: true, writable: true, configurable: true })),
      fc.tuple(fc.constantFrom('images', 'tokens', 'tokens_base64', 'texts', 'input'), fc.nat(10), json).map(([k, i, v]) => (b: Body) => {
        const a = b[k];
        if (Array.isArray(a)) a[i % (a.length + 1)] = v;
      }),
      fc.tuple(fc.nat(), hostileNumber).map(([i, v]) => (b: Body) => {
        const row = Array.isArray(b.tokens) ? (b.tokens[0] as unknown[]) : undefined;
        if (Array.isArray(row)) row[i % row.length] = v;
      }),
      fc.integer({ min: -3, max: 3 }).map((delta) => (b: Body) => {
        const row = Array.isArray(b.tokens) ? (b.tokens[0] as unknown[]) : undefined;
        if (Array.isArray(row)) row.length = Math.max(0, row.length + delta);
      }),
      fc.tuple(fc.nat(), fc.nat(255)).map(([i, v]) => (b: Body) => mutateImage(b, (bytes) => {
        const out = Buffer.from(bytes);
        out[i % out.length] = v;
        return out;
      })),
      fc.double({ min: 0, max: 1, noNaN: true }).map((f) => (b: Body) => mutateImage(b, (bytes) => bytes.subarray(0, Math.floor(bytes.length * f)))),
      fc.tuple(fc.nat(), text).map(([i, t]) => (b: Body) => {
        if (Array.isArray(b.texts)) b.texts[i % b.texts.length] = t;
        if (typeof b.input === 'string') b.input = t;
      }),
      fc.tuple(fc.constantFrom('images', 'tokens', 'tokens_base64', 'texts'), fc.integer({ min: 0, max: 12 })).map(([k, n]) => (b: Body) => {
        const a = b[k];
        if (Array.isArray(a) && a.length > 0) b[k] = Array.from({ length: n }, (_, i) => a[i % a.length]);
      }),
      fc.tuple(fc.nat(), fc.string({ maxLength: 4 })).map(([i, s]) => (b: Body) => {
        const t = b.tokens_base64;
        if (Array.isArray(t) && typeof t[0] === 'string') t[0] = t[0].slice(0, i % (t[0].length + 1)) + s + t[0].slice(i % (t[0].length + 1));
      }),
    );
    // Mostly absent, so that most mutated bodies reach the deeper layers.
    const rarely = <T,>(arb: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: arb, weight: 1 });
    const query = rarely(
      fc.dictionary(fc.constantFrom('model', 'ids_format', 'format', 'quality', 'output', 'normalize', 'encoding_format', 'x'), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
    );
    const headers = rarely(
      fc.record(
        {
          'x-request-timeout-ms': fc.oneof(fc.string({ maxLength: 8 }), fc.integer({ min: 60_000 }).map(String)),
          'x-request-id': fc.string({ maxLength: 200 }),
          accept: fc.constantFrom('image/png', 'image/*', 'application/json;q=0', '*/*;q=abc', 'image/webp, application/json;q=0.1'),
        },
        { requiredKeys: [] },
      ),
    ).map((h) => h ?? {});
    const withQuery = (path: string, q: Record<string, string> | undefined) => (q === undefined ? path : `${path}?${new URLSearchParams(q).toString()}`);
    // Header values must be ByteStrings for fetch; the server must cope with what remains.
    const clean = (h: Record<string, string>) =>
      Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.replace(/[^\x20-\x7e]/g, '').trim()]).filter(([, v]) => v !== ''));

    const mutatedValid = fc
      .record({ route: fc.constantFrom(...POST_ROUTES), pick: fc.nat(), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }), query, headers })
      .map(({ route, pick, mutations, query: q, headers: h }): FuzzRequest => {
        const list = bases[route];
        const body = structuredClone(list[pick % list.length]!);
        for (const m of mutations) m(body);
        return { label: 'mutated valid', method: 'POST', path: withQuery(route, q), headers: { 'content-type': 'application/json', ...clean(h) }, body: bytesOf(JSON.stringify(body)) };
      });
    const randomJson = fc.record({ route: fc.constantFrom(...POST_ROUTES), value: json, query }).map(
      ({ route, value, query: q }): FuzzRequest => ({ label: 'random JSON', method: 'POST', path: withQuery(route, q), headers: { 'content-type': 'application/json' }, body: bytesOf(JSON.stringify(value)) }),
    );
    const mangledJson = fc
      .record({ route: fc.constantFrom(...POST_ROUTES), pick: fc.nat(), at: fc.nat(), cut: fc.nat(40), insert: fc.string({ unit: 'binary', maxLength: 8 }) })
      .map(({ route, pick, at, cut, insert }): FuzzRequest => {
        const list = bases[route];
        const text = JSON.stringify(list[pick % list.length]);
        const i = at % (text.length + 1);
        return { label: 'mangled JSON', method: 'POST', path: route, headers: { 'content-type': 'application/json' }, body: bytesOf(text.slice(0, i) + insert + text.slice(i + cut)) };
      });
    const mangledMultipart = fc
      .record({ route: fc.constantFrom(...POST_ROUTES), at: fc.nat(), cut: fc.nat(64), insert: fc.uint8Array({ maxLength: 16 }), fields: fc.array(fc.tuple(fc.constantFrom(...KEYS), fc.string({ maxLength: 20 })), { maxLength: 3 }) })
      .map(({ route, at, cut, insert, fields }): FuzzRequest => {
        const body = multipartBody(
          [{ name: 'image', data: png, filename: 'a.png', contentType: 'image/png' }, { name: 'texts', data: 'a cat' }, ...fields.map(([name, data]) => ({ name, data }))],
          'fuzz',
        );
        const i = at % (body.length + 1);
        const mangled = Buffer.concat([body.subarray(0, i), insert, body.subarray(i + cut)]);
        return { label: 'mangled multipart', method: 'POST', path: route, headers: { 'content-type': 'multipart/form-data; boundary=fuzz' }, body: new Uint8Array(mangled) };
      });
    const randomBytes = fc
      .record({ route: fc.constantFrom(...POST_ROUTES), bytes: fc.uint8Array({ maxLength: 4096 }), type: fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.string({ maxLength: 30 })) })
      .map(({ route, bytes, type }): FuzzRequest => {
        const t = type.replace(/[^\x20-\x7e]/g, '').trim();
        return { label: 'random bytes', method: 'POST', path: route, headers: t === '' ? {} : { 'content-type': t }, body: bytes };
      });
    const otherRoutes = fc
      .record({ route: fc.constantFrom(...OTHER_ROUTES, ...POST_ROUTES), method: fc.constantFrom(...METHODS), query, body: fc.option(fc.uint8Array({ maxLength: 256 }), { nil: undefined }) })
      .map(({ route, method, query: q, body }): FuzzRequest => ({
        label: 'any method',
        method,
        path: withQuery(route, q),
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
      }));
    return fc.oneof(
      { arbitrary: mutatedValid, weight: 5 },
      { arbitrary: randomJson, weight: 2 },
      { arbitrary: mangledJson, weight: 2 },
      { arbitrary: mangledMultipart, weight: 2 },
      { arbitrary: randomBytes, weight: 2 },
      { arbitrary: otherRoutes, weight: 1 },
    );
  }

  it('answers every request with a 200 or a 4xx problem, in time', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(arbitraries(), async (request) => {
        let res: Response;
        try {
          res = await fetch(`${server.url}${request.path}`, {
            method: request.method,
            headers: request.headers,
            ...(request.body !== undefined ? { body: request.body } : {}),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
        } catch (error) {
          throw new Error(`${request.label} ${request.method} ${request.path}: no answer within ${REQUEST_TIMEOUT_MS} ms (${(error as Error).message})`);
        }
        const text = await res.text();
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        // A 504 is right only when the client itself asked for a deadline too short to meet.
        const askedDeadline = Number(request.headers['x-request-timeout-ms'] ?? Number.NaN);
        const ok = (res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500) || (res.status === 504 && askedDeadline < 1000);
        assert.ok(ok, `${request.label} ${request.method} ${request.path}: ${res.status} ${text.slice(0, 300)}`);
        if (res.status >= 400 && request.method !== 'HEAD') {
          assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/, `${request.label}: ${res.status} ${text.slice(0, 200)}`);
          assert.equal((JSON.parse(text) as { status: number }).status, res.status);
        }
      }),
      { seed: SEED, numRuns: RUNS, verbose: 1 },
    );
    process.stdout.write(`fuzz answers by status: ${JSON.stringify(Object.fromEntries([...seen].sort((a, b) => a[0] - b[0])))}\n`);
    assert.ok((seen.get(200) ?? 0) > 0 && [...seen.keys()].some((s) => s >= 400), 'the runs reached both accepted and refused requests');
  });

  it('leaves the server ready and correct', async () => {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    const golden = await loadGolden();
    const res = await postJson(`${server.url}/v1/tokenize`, { images: golden.images.map((b) => b.toString('base64')) });
    assert.deepEqual(res.json.tokens, await golden.rows('ids'));
  });
});
