/**
 * End to end through the generated TypeScript client (clients/typescript): the real service on
 * a free port with the tiny-64 fixture bundle, every operation of openapi/openapi.json called
 * through openapi-fetch with the generated types, results checked against the bundle's golden
 * outputs. A middleware records which operations were called; the last test fails when one is
 * missing, so a new route needs a client call here.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createToklipClient, multipart, rawImage, type ToklipClient } from '../../clients/typescript/index.js';
import type { RunningServer } from '../../src/http/server.js';
import { type Golden, TINY, TINY_MODEL, assertClose, loadGolden } from '../helpers/golden.js';
import { TEST_PROVIDER, startTestServer } from '../helpers/server.js';

const model = TINY_MODEL;

/** Little-endian float32 base64 -> numbers. */
function float32FromBase64(text: string): number[] {
  const bytes = Buffer.from(text, 'base64');
  return Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
}

/** Little-endian uint16 base64 -> ids (tiny-64's codebook has 64 entries: 2 bytes per id). */
function uint16FromBase64(text: string): number[] {
  const bytes = Buffer.from(text, 'base64');
  return Array.from(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
}

describe('generated TypeScript client, end to end', () => {
  let server: RunningServer;
  let toklip: ToklipClient;
  let golden: Golden;
  let images: string[];
  let ids: number[][];
  const called = new Set<string>();

  before(async () => {
    server = await startTestServer();
    toklip = createToklipClient({ baseUrl: server.url });
    toklip.use({
      onRequest: ({ request, schemaPath }) => {
        called.add(`${request.method} ${schemaPath}`);
      },
    });
    golden = await loadGolden();
    images = golden.images.map((png) => png.toString('base64'));
    ids = await golden.rows('ids');
  });
  after(() => server.close());

  it('GET /healthz, /readyz and /metrics', async () => {
    const health = await toklip.GET('/healthz');
    assert.deepEqual(health.data, { status: 'ok' });
    const ready = await toklip.GET('/readyz');
    assert.deepEqual(ready.data, { status: 'ready' });
    const metrics = await toklip.GET('/metrics', { parseAs: 'text' });
    assert.equal(metrics.response.status, 200);
    assert.match(metrics.data ?? '', /^# HELP toklip_http_requests_total/m);
  });

  it('GET /v1/models describes the fixture bundle', async () => {
    const { data, error } = await toklip.GET('/v1/models');
    assert.equal(error, undefined);
    assert.equal(data?.default_model, model);
    const card = data?.data.find((m) => m.id === model);
    assert.ok(card);
    assert.deepEqual(card.grid, [...TINY.grid]);
    assert.equal(card.codebook_size, TINY.codebookSize);
    assert.equal(card.embedding_dim, TINY.dim);
    assert.equal(card.execution_provider, TEST_PROVIDER);
  });

  it('POST /v1/tokenize as JSON, multipart and a raw image body gives the golden ids', async () => {
    const json = await toklip.POST('/v1/tokenize', { body: { images, model } });
    assert.equal(json.error, undefined);
    assert.deepEqual(json.data?.tokens, ids);
    assert.deepEqual(json.data?.grid, [...TINY.grid]);

    const asBase64 = await toklip.POST('/v1/tokenize', {
      body: { images: images.map((b64) => `data:image/png;base64,${b64}`), model, ids_format: 'base64' },
    });
    assert.deepEqual(asBase64.data?.tokens_base64?.map(uint16FromBase64), ids);

    const parts = golden.images.map((png) => new Blob([png], { type: 'image/png' }));
    const fromParts = await toklip.POST('/v1/tokenize', multipart({ images: parts, model }));
    assert.equal(fromParts.error, undefined, JSON.stringify(fromParts.error));
    assert.deepEqual(fromParts.data?.tokens, ids);

    const raw = await toklip.POST('/v1/tokenize', { ...rawImage(golden.images[1]!, 'image/png'), params: { query: { model } } });
    assert.equal(raw.error, undefined, JSON.stringify(raw.error));
    assert.deepEqual(raw.data?.tokens, [ids[1]]);
  });

  it('POST /v1/decode returns JSON images, or the PNG bytes when Accept asks for them', async () => {
    const json = await toklip.POST('/v1/decode', { body: { tokens: [ids[0]!], model, format: 'png' } });
    assert.equal(json.error, undefined);
    const image = json.data?.images[0];
    assert.equal(image?.mime, 'image/png');
    const png = Buffer.from(image?.data ?? '', 'base64');

    const bytes = await toklip.POST('/v1/decode', {
      body: { tokens: [ids[0]!], model },
      headers: { accept: 'image/png' },
      parseAs: 'arrayBuffer',
    });
    assert.equal(bytes.response.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(bytes.data ?? new ArrayBuffer(0)), png);
  });

  it('POST /v1/encode: images, tokens and texts give the golden embeddings', async () => {
    const wantImages = await golden.rows('embedding');
    const fromImages = await toklip.POST('/v1/encode', { body: { images, model, normalize: false } });
    assert.equal(fromImages.error, undefined);
    assert.equal(fromImages.data?.dim, TINY.dim);
    wantImages.forEach((want, i) =>
      assertClose(fromImages.data?.embeddings?.[i] as number[], want, golden.tolerance('embedding'), `image ${i}`),
    );

    const fromTokens = await toklip.POST('/v1/encode', {
      body: { tokens: ids, model, normalize: false, output: 'both', encoding_format: 'base64' },
    });
    assert.equal(fromTokens.data?.input, 'tokens');
    wantImages.forEach((want, i) =>
      assertClose(float32FromBase64(fromTokens.data?.embeddings?.[i] as string), want, golden.tolerance('embedding'), `tokens ${i}`),
    );
    const wantFeatures = await golden.array('features');
    const features = (fromTokens.data?.features as string[]).flatMap(float32FromBase64);
    assertClose(features, wantFeatures, golden.tolerance('features'), 'features');

    const wantTexts = await golden.rows('text_embedding');
    const fromTexts = await toklip.POST('/v1/encode', { body: { texts: golden.manifest.texts, model, normalize: false } });
    assert.equal(fromTexts.data?.input, 'texts');
    wantTexts.forEach((want, i) =>
      assertClose(fromTexts.data?.embeddings?.[i] as number[], want, golden.tolerance('text_embedding'), `text ${i}`),
    );
  });

  it('POST /v1/similarity scores every image against every text', async () => {
    const { data, error } = await toklip.POST('/v1/similarity', { body: { images, texts: golden.manifest.texts, model } });
    assert.equal(error, undefined);
    assert.equal(data?.cosine.length, images.length);
    for (const [i, row] of (data?.probabilities ?? []).entries()) {
      assert.equal(row.length, golden.manifest.texts.length);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `row ${i} sums to 1`);
      data?.cosine[i]?.forEach((c) => assert.ok(c >= -1 && c <= 1));
    }
  });

  it('POST /v1/embeddings (OpenAI shape) embeds texts and images', async () => {
    const texts = await toklip.POST('/v1/embeddings', { body: { input: golden.manifest.texts, model, encoding_format: 'float' } });
    assert.equal(texts.error, undefined);
    assert.equal(texts.data?.object, 'list');
    const wantTexts = await golden.rows('text_embedding');
    texts.data?.data.forEach((d, i) => {
      const norm = Math.hypot(...wantTexts[i]!);
      assertClose(d.embedding as number[], wantTexts[i]!.map((x) => x / norm), golden.tolerance('text_embedding'), `text ${i}`);
    });
    const pictures = await toklip.POST('/v1/embeddings', { body: { input: images, model, modality: 'image' } });
    assert.equal(pictures.data?.usage.prompt_tokens, images.length * TINY.numTokens);
  });

  it('GET /v2 health and model metadata (KServe Open Inference Protocol)', async () => {
    assert.deepEqual((await toklip.GET('/v2/health/live')).data, { live: true });
    assert.deepEqual((await toklip.GET('/v2/health/ready')).data, { ready: true });
    const params = { params: { path: { name: model } } };
    assert.deepEqual((await toklip.GET('/v2/models/{name}/ready', params)).data, { name: model, ready: true });
    const metadata = await toklip.GET('/v2/models/{name}', params);
    assert.equal(metadata.data?.platform, 'onnxruntime_onnx');
    assert.ok(metadata.data?.inputs.some((t) => t.name === 'vq_encoder.pixels' && t.datatype === 'FP32'));
    const missing = await toklip.GET('/v2/models/{name}', { params: { path: { name: 'no-such-model' } } });
    assert.equal(missing.error?.code, 'unknown_model');
  });

  it('errors come back typed as RFC 9457 problems', async () => {
    const { data, error, response } = await toklip.POST('/v1/encode', { body: { texts: ['a cat'], model: 'no-such-model' } });
    assert.equal(data, undefined);
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(error?.code, 'unknown_model');
    assert.equal(error?.status, 404);
    assert.equal(error?.type, 'urn:toklip:error:unknown_model');
  });

  it('called every operation of openapi/openapi.json', async () => {
    const document = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.deepEqual(operations.filter((operation) => !called.has(operation)), []);
  });
});
