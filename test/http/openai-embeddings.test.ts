/**
 * POST /v1/embeddings driven by the official OpenAI SDK (the `openai` npm package) pointed at the
 * live service with the tiny-64 bundle: texts and images give the golden embeddings
 * (L2-normalised), in both encoding formats, with usage counts; errors surface as the SDK's
 * typed errors with the problem+json body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { RunningServer } from '../../src/http/server.js';
import { type Golden, TINY, TINY_MODEL, assertClose, loadGolden } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';

const model = TINY_MODEL;

function normalized(v: readonly number[]): number[] {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / norm);
}

/** The SDK's parameters plus this service's `modality` extension. */
type Params = OpenAI.EmbeddingCreateParams & { modality?: 'text' | 'image' };

describe('POST /v1/embeddings through the OpenAI SDK', () => {
  let server: RunningServer;
  let openai: OpenAI;
  let golden: Golden;
  let dataUris: string[];

  before(async () => {
    server = await startTestServer();
    openai = new OpenAI({ apiKey: 'not-checked', baseURL: `${server.url}/v1`, maxRetries: 0 });
    golden = await loadGolden();
    dataUris = golden.images.map((png) => `data:image/png;base64,${png.toString('base64')}`);
  });
  after(() => server.close());

  it('texts: the golden text embeddings, L2-normalised, with token usage (SDK default: base64)', async () => {
    const texts = golden.manifest.texts;
    const result = await openai.embeddings.create({ model, input: texts });
    assert.equal(result.object, 'list');
    assert.equal(result.model, model);
    assert.deepEqual(result.data.map((d) => d.index), [0, 1, 2]);
    const want = await golden.rows('text_embedding');
    result.data.forEach((d, i) => {
      assert.equal(d.embedding.length, TINY.dim);
      assertClose(Array.from(d.embedding), normalized(want[i]!), golden.tolerance('text_embedding'), `text ${i}`);
    });
    // Usage: the texts' tokens without padding (pad id 0 in the golden input ids).
    const tokens = (await golden.rows('text_input_ids')).flat().filter((id) => id !== 0).length;
    assert.deepEqual(result.usage, { prompt_tokens: tokens, total_tokens: tokens });
  });

  it('encoding_format float gives the same numbers as base64', async () => {
    const asFloat = await openai.embeddings.create({ model, input: 'a photo of a cat', encoding_format: 'float' });
    const asBase64 = await openai.embeddings.create({ model, input: 'a photo of a cat' });
    assert.equal(asFloat.data.length, 1);
    assert.deepEqual(Array.from(asFloat.data[0]!.embedding), Array.from(asBase64.data[0]!.embedding).map((x) => Math.fround(x)));
    const raw = await postJson(`${server.url}/v1/embeddings`, { model, input: 'a photo of a cat', encoding_format: 'base64' });
    assert.equal(typeof raw.json.data[0].embedding, 'string');
    assert.equal(Buffer.from(raw.json.data[0].embedding, 'base64').length, 4 * TINY.dim);
  });

  it('modality image: data: URIs and plain base64 give the golden image embeddings, N tokens each', async () => {
    const want = await golden.rows('embedding');
    const plain = golden.images.map((png) => png.toString('base64'));
    for (const input of [dataUris, plain]) {
      const result = await openai.embeddings.create({ model, input, modality: 'image' } as Params);
      result.data.forEach((d, i) =>
        assertClose(Array.from(d.embedding), normalized(want[i]!), golden.tolerance('embedding'), `image ${i}`),
      );
      assert.equal(result.usage.prompt_tokens, input.length * TINY.numTokens);
    }
  });

  it('agrees with /v1/encode (normalised) for the same texts', async () => {
    const texts = ['a dog', 'a diagram with red and blue stripes'];
    const viaOpenAi = await openai.embeddings.create({ model, input: texts, encoding_format: 'float' });
    const viaEncode = await postJson(`${server.url}/v1/encode`, { model, texts });
    assert.deepEqual(viaOpenAi.data.map((d) => d.embedding), viaEncode.json.embeddings);
  });

  it('the SDK lists the models from GET /v1/models', async () => {
    const ids = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    assert.deepEqual(ids, [model]);
  });

  it('errors reach the SDK as typed errors with the problem+json body', async () => {
    const cases: { params: Params; status: number; code: string }[] = [
      { params: { model: 'text-embedding-3-small', input: 'x' }, status: 404, code: 'unknown_model' },
      { params: { model, input: [1, 2, 3] }, status: 400, code: 'bad_request' },
      { params: { model, input: 'x', dimensions: 8 }, status: 400, code: 'bad_request' },
      { params: { model, input: Array.from({ length: 65 }, () => 'x') }, status: 413, code: 'too_many_inputs' },
      { params: { model, input: 'not base64!', modality: 'image' }, status: 400, code: 'invalid_base64' },
      { params: { model, input: Buffer.from('not an image').toString('base64'), modality: 'image' }, status: 422, code: 'invalid_image' },
    ];
    for (const { params, status, code } of cases) {
      await assert.rejects(openai.embeddings.create(params), (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError, String(error));
        assert.equal(error.status, status, `${code}: ${error.message}`);
        const body = error.error as { code?: string; message?: string } | undefined;
        assert.equal(body?.code, code);
        assert.equal(error.message, `${status} ${body?.message}`);
        return true;
      });
    }
    const raw = await postJson(`${server.url}/v1/embeddings`, { model: 'nope', input: 'x' });
    assert.equal(raw.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(raw.json.type, 'urn:toklip:error:unknown_model');
    assert.equal(raw.json.status, 404);
    assert.deepEqual(raw.json.error, { message: raw.json.detail, type: 'invalid_request_error', param: null, code: 'unknown_model' });
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
  });
});
