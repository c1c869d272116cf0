/**
 * Every route, input form, option and documented error through a real socket, against the
 * exporter's fixture bundle tiny-64 (a small random checkpoint, test/fixtures/bundles): the real
 * workers, ORT sessions, batchers and image pipeline. Values are checked against the bundle's
 * golden PyTorch outputs and against relations between routes (encode(image) equals
 * encode(tokenize(image)), similarity equals cosine of encode). golden.test.ts checks every
 * golden array at the bundle's tolerances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { type Golden, TINY, TINY_MODEL, assertClose, loadGolden } from '../helpers/golden.js';
import { TEST_PROVIDER, postJson, startTestServer } from '../helpers/server.js';

const N = TINY.numTokens;
const D = TINY.dim;
const CODEBOOK = TINY.codebookSize;

/** A picture with structure, so that different regions give different tokens. */
async function gradientPng(width: number, height: number, seed: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = (seed * 37 + x * y) % 256;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

function float32FromBase64(text: string): number[] {
  const bytes = Buffer.from(text, 'base64');
  return Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
}

function close(a: readonly number[], b: readonly number[], tolerance = 1e-6): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tolerance, `index ${i}: ${a[i]} vs ${b[i]}`);
}

describe('HTTP API (tiny-64 fixture bundle)', () => {
  let server: RunningServer;
  let url: string;
  let golden: Golden;
  let goldenIds: number[][];
  let png: Buffer;
  let png2: Buffer;

  before(async () => {
    server = await startTestServer({ TOKLIP_MAX_IMAGES_PER_REQUEST: '8', TOKLIP_BODY_LIMIT_MB: '2' });
    url = server.url;
    golden = await loadGolden();
    goldenIds = await golden.rows('ids');
    [png, png2] = golden.images as [Buffer, Buffer];
  });
  after(() => server.close());

  describe('GET /v1/models and health', () => {
    it('lists the model with its shapes, capabilities and provider', async () => {
      const body = (await (await fetch(`${url}/v1/models`)).json()) as any;
      assert.equal(body.object, 'list');
      assert.equal(body.default_model, TINY_MODEL);
      const [m] = body.data;
      assert.equal(m.id, TINY_MODEL);
      assert.deepEqual(m.capabilities, ['tokenize', 'decode', 'encode_image', 'encode_tokens', 'encode_text']);
      assert.equal(m.image_size, 64);
      assert.deepEqual(m.grid, [4, 4]);
      assert.equal(m.num_tokens, N);
      assert.equal(m.codebook_size, CODEBOOK);
      assert.equal(m.ids_base64_bytes, 2);
      assert.equal(m.embedding_dim, D);
      assert.equal(m.text_context_length, TINY.textContextLength);
      assert.deepEqual(m.preprocessing.mean, [0.5, 0.5, 0.5]);
      assert.deepEqual(m.score, { convention: 'softmax', scale: 100 });
      assert.equal(m.dtype, 'float32');
      assert.equal(m.execution_provider, TEST_PROVIDER);
    });

    it('/healthz and /readyz are 200 once warmed up', async () => {
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.deepEqual(await (await fetch(`${url}/readyz`)).json(), { status: 'ready' });
    });
  });

  describe('POST /v1/tokenize', () => {
    let reference: number[][];

    before(async () => {
      const res = await postJson(`${url}/v1/tokenize`, { images: [png.toString('base64'), png2.toString('base64')] });
      assert.equal(res.status, 200, res.text);
      reference = res.json.tokens;
    });

    it('answers grid, codebook size and one row of N ids per image, in order: the golden ids', async () => {
      assert.deepEqual(reference, goldenIds.slice(0, 2));
      for (const row of reference) assert.equal(row.length, N);
      assert.notDeepEqual(reference[0], reference[1]);
      const single = await postJson(`${url}/v1/tokenize`, { images: [png2.toString('base64')] });
      assert.deepEqual(single.json, { model: TINY_MODEL, grid: [4, 4], codebook_size: CODEBOOK, tokens: [reference[1]] });
    });

    it('gives the same ids for a larger picture however it is sent, and other ids for other pictures', async () => {
      const big = await gradientPng(120, 90, 1);
      const other = await gradientPng(70, 140, 2);
      const res = await postJson(`${url}/v1/tokenize`, { images: [big.toString('base64'), other.toString('base64')] });
      assert.equal(res.status, 200, res.text);
      assert.notDeepEqual(res.json.tokens[0], res.json.tokens[1]);
      const raw = await fetch(`${url}/v1/tokenize`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: big });
      assert.deepEqual(((await raw.json()) as any).tokens, [res.json.tokens[0]]);
    });

    it('accepts data: URIs, multipart file parts and a raw image body with the same result', async () => {
      const dataUri = await postJson(`${url}/v1/tokenize`, { images: [`data:image/png;base64,${png.toString('base64')}`] });
      assert.deepEqual(dataUri.json.tokens, [reference[0]]);

      const form = new FormData();
      form.append('file', new Blob([png], { type: 'image/png' }), 'a.png');
      form.append('file', new Blob([png2], { type: 'image/png' }), 'b.png');
      const multipart = (await (await fetch(`${url}/v1/tokenize`, { method: 'POST', body: form })).json()) as any;
      assert.deepEqual(multipart.tokens, reference);

      const raw = await fetch(`${url}/v1/tokenize`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
      assert.deepEqual(((await raw.json()) as any).tokens, [reference[0]]);
    });

    it('ids_format base64 (JSON member, query or multipart field) is little-endian uint16', async () => {
      const decode = (s: string) => {
        const b = Buffer.from(s, 'base64');
        return Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16LE(i * 2));
      };
      const member = await postJson(`${url}/v1/tokenize`, { images: [png.toString('base64')], ids_format: 'base64' });
      assert.equal(member.json.tokens, undefined);
      assert.deepEqual(member.json.tokens_base64.map(decode), [reference[0]]);

      const query = await postJson(`${url}/v1/tokenize?ids_format=base64&model=tiny-64`, { images: [png.toString('base64')] });
      assert.deepEqual(query.json.tokens_base64.map(decode), [reference[0]]);

      const form = new FormData();
      form.append('ids_format', 'base64');
      form.append('image', new Blob([png2]), 'b.png');
      const multipart = (await (await fetch(`${url}/v1/tokenize`, { method: 'POST', body: form })).json()) as any;
      assert.deepEqual(multipart.tokens_base64.map(decode), [reference[1]]);

      const raw = await fetch(`${url}/v1/tokenize?ids_format=base64`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
      assert.deepEqual(((await raw.json()) as any).tokens_base64.map(decode), [reference[0]]);
    });

    it('sends timing headers and echoes the request id', async () => {
      const res = await postJson(`${url}/v1/tokenize`, { images: [png.toString('base64')] }, { 'x-request-id': 'tok-1' });
      assert.equal(res.headers.get('x-request-id'), 'tok-1');
      for (const h of ['x-preprocess-time', 'x-queue-time', 'x-inference-time']) {
        assert.ok(Number(res.headers.get(h)) >= 0, `${h}: ${res.headers.get(h)}`);
      }
    });

    it('rejects bad inputs with clear problems', async () => {
      const cases: [unknown, number, string, RegExp?][] = [
        [{ images: ['not base64!'] }, 400, 'invalid_base64', /images\[0\]/],
        [{ images: [`data:text/plain;base64,${png.toString('base64')}`] }, 400, 'invalid_data_uri', /text\/plain/],
        [{ images: ['data:image/png,rawtext'] }, 400, 'invalid_data_uri', /only base64/],
        [{ images: [png.toString('base64')], model: 'nope' }, 404, 'unknown_model', /tiny-64/],
        [{ images: Array(9).fill(png.toString('base64')) }, 413, 'too_many_inputs'],
        [{ images: [Buffer.from('not an image at all').toString('base64')] }, 422, 'invalid_image', /images\[0\]/],
        [{ images: [png.subarray(0, 60).toString('base64')] }, 422, 'invalid_image', /images\[0\]/],
        [{ images: [png.toString('base64')], ids_format: 'hex' }, 400, 'validation_failed', /ids_format/],
        [{ images: [png.toString('base64')], colour: true }, 400, 'validation_failed', /colour/],
        [{ images: [] }, 400, 'validation_failed'],
        [{}, 400, 'validation_failed', /images/],
      ];
      for (const [body, status, code, detail] of cases) {
        const res = await postJson(`${url}/v1/tokenize`, body);
        assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
        assert.equal(res.json.code, code);
        if (detail) assert.match(res.json.detail, detail);
      }
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
      const svgRes = await fetch(`${url}/v1/tokenize`, { method: 'POST', headers: { 'content-type': 'image/svg+xml' }, body: svg });
      assert.equal(svgRes.status, 415);
      assert.equal(((await svgRes.json()) as any).code, 'unsupported_image_format');
      const text = await fetch(`${url}/v1/tokenize`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
      assert.equal(text.status, 415);
      const empty = await fetch(`${url}/v1/tokenize`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(0) });
      assert.equal(empty.status, 400);
      const conflict = await postJson(`${url}/v1/tokenize?ids_format=json`, { images: [png.toString('base64')], ids_format: 'base64' });
      assert.equal(conflict.status, 400);
      assert.match(conflict.json.detail, /ids_format/);
      const big = await postJson(`${url}/v1/tokenize`, { images: ['A'.repeat(3 * 1024 * 1024)] });
      assert.equal(big.status, 413);
      assert.match(big.json.detail, /2097152 bytes \(2 MiB\)/);
    });
  });

  describe('POST /v1/encode', () => {
    it('image embeddings equal the embeddings of their tokens, and the golden embeddings', async () => {
      const images = [png.toString('base64'), png2.toString('base64')];
      const tokens = (await postJson(`${url}/v1/tokenize`, { images })).json.tokens;
      const fromImages = await postJson(`${url}/v1/encode`, { images });
      const fromTokens = await postJson(`${url}/v1/encode`, { tokens });
      const raw = await postJson(`${url}/v1/encode`, { images, normalize: false });
      const want = await golden.rows('embedding');
      raw.json.embeddings.forEach((e: number[], i: number) => assertClose(e, want[i]!, golden.tolerance('embedding'), `embedding ${i}`));
      assert.equal(fromImages.json.input, 'images');
      assert.equal(fromTokens.json.input, 'tokens');
      assert.equal(fromImages.json.dim, D);
      assert.deepEqual(fromImages.json.embeddings, fromTokens.json.embeddings);
      for (const e of fromImages.json.embeddings) {
        assert.equal(e.length, D);
        assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, 'normalised by default');
      }
    });

    it('multipart and raw image bodies give the same embeddings', async () => {
      const json = await postJson(`${url}/v1/encode`, { images: [png.toString('base64')] });
      const form = new FormData();
      form.append('normalize', 'true');
      form.append('image', new Blob([png]), 'a.png');
      const multipart = (await (await fetch(`${url}/v1/encode`, { method: 'POST', body: form })).json()) as any;
      const raw = (await (await fetch(`${url}/v1/encode`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png })).json()) as any;
      assert.deepEqual(multipart.embeddings, json.json.embeddings);
      assert.deepEqual(raw.embeddings, json.json.embeddings);
    });

    it('normalize=false returns the raw pooled vector; encoding_format=base64 is float32 LE', async () => {
      const tokens = [Array.from({ length: N }, (_, i) => (i * 5 + 1) % CODEBOOK)];
      const raw = (await postJson(`${url}/v1/encode?normalize=false`, { tokens })).json.embeddings[0];
      const unit = (await postJson(`${url}/v1/encode`, { tokens })).json.embeddings[0];
      const norm = Math.hypot(...raw);
      assert.ok(Math.abs(norm - 1) > 1e-3);
      close(unit, raw.map((x: number) => x / norm), 1e-6);
      const b64 = (await postJson(`${url}/v1/encode`, { tokens, encoding_format: 'base64', normalize: false })).json.embeddings[0];
      close(float32FromBase64(b64), raw, 0);
    });

    it('features: T x D per input; a raster-order prefix gives that prefix of the causal features', async () => {
      const full = [[5, 9, 63, 3, 37, 5, 9, 63, 3, 37, 5, 9, 63, 3, 37, 42]];
      const both = await postJson(`${url}/v1/encode`, { tokens: full, output: 'both' });
      assert.equal(both.json.embeddings.length, 1);
      assert.equal(both.json.features[0].length, N);
      assert.equal(both.json.features[0][0].length, D);
      const prefix = await postJson(`${url}/v1/encode`, { tokens: [full[0]!.slice(0, 5)], output: 'features' });
      assert.equal(prefix.json.embeddings, undefined);
      assert.equal(prefix.json.features[0].length, 5);
      // Causal attention: the first 5 rows do not depend on later tokens (equal up to float32 kernel order).
      for (let t = 0; t < 5; t++) assertClose(prefix.json.features[0][t], both.json.features[0][t], golden.tolerance('features'), `row ${t}`);
      const b64 = await postJson(`${url}/v1/encode`, { tokens: [full[0]!.slice(0, 5)], output: 'features', encoding_format: 'base64' });
      close(float32FromBase64(b64.json.features[0]), prefix.json.features[0].flat(), 0);
      const fromBase64Ids = await postJson(`${url}/v1/encode`, {
        tokens_base64: [Buffer.from(new Uint16Array(full[0]!).buffer).toString('base64')],
        output: 'both',
      });
      assert.deepEqual(fromBase64Ids.json.embeddings, both.json.embeddings);
    });

    it('texts use the bundle tokenizer and the text tower', async () => {
      const res = await postJson(`${url}/v1/encode`, { texts: ['A photo of a CAT.', 'a photo of a cat', 'a dog'] });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.input, 'texts');
      const [a, b, c] = res.json.embeddings;
      assert.deepEqual(a, b, 'cleaning makes these the same text');
      assert.notDeepEqual(a, c);
    });

    it('rejects ambiguous, missing and unavailable inputs', async () => {
      const cases: [unknown, number, string][] = [
        [{ texts: ['a'], tokens: [[1]] }, 400, 'bad_request'],
        [{}, 400, 'bad_request'],
        [{ texts: ['a cat'], output: 'features' }, 422, 'capability_unavailable'],
        [{ texts: [''] }, 422, 'invalid_text'],
        [{ texts: ['x'.repeat(5000)] }, 422, 'invalid_text'],
        [{ tokens: [Array(N + 1).fill(1)] }, 422, 'invalid_tokens'],
        [{ tokens: [[1], []] }, 422, 'invalid_tokens'],
        [{ tokens: [[1]], output: 'everything' }, 400, 'validation_failed'],
      ];
      for (const [body, status, code] of cases) {
        const res = await postJson(`${url}/v1/encode`, body);
        assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)}: ${res.text}`);
        assert.equal(res.json.code, code);
      }
    });
  });

  describe('POST /v1/decode', () => {
    const ids = Array.from({ length: N }, (_, i) => (i * 7) % CODEBOOK);

    it('returns one 64 x 64 image per row as JSON, in the requested format', async () => {
      for (const [format, mime] of [
        ['png', 'image/png'],
        ['jpeg', 'image/jpeg'],
        ['webp', 'image/webp'],
      ] as const) {
        const res = await postJson(`${url}/v1/decode`, { tokens: [ids, ids.slice().reverse()], format, quality: 80 });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.json.model, TINY_MODEL);
        assert.equal(res.json.images.length, 2);
        for (const image of res.json.images) {
          assert.equal(image.mime, mime);
          const meta = await sharp(Buffer.from(image.data, 'base64')).metadata();
          assert.equal(meta.format, format);
          assert.deepEqual([meta.width, meta.height], [64, 64]);
        }
      }
    });

    it('answers bare image bytes for one image when Accept prefers an image type', async () => {
      const bare = await fetch(`${url}/v1/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'image/webp' },
        body: JSON.stringify({ tokens: [ids] }),
      });
      assert.equal(bare.status, 200);
      assert.equal(bare.headers.get('content-type'), 'image/webp');
      const bytes = Buffer.from(await bare.arrayBuffer());
      assert.equal((await sharp(bytes).metadata()).format, 'webp');

      const json = await postJson(`${url}/v1/decode`, { tokens: [ids] });
      const png = await fetch(`${url}/v1/decode?format=png`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'image/*, application/json;q=0.5' },
        body: JSON.stringify({ tokens: [ids] }),
      });
      assert.equal(png.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await png.arrayBuffer()), Buffer.from(json.json.images[0].data, 'base64'));

      const refused = await postJson(`${url}/v1/decode`, { tokens: [ids, ids] }, { accept: 'image/png' });
      assert.equal(refused.status, 406);
      assert.equal(refused.json.code, 'not_acceptable');
    });

    it('validates ids: count, range, sign, type and base64 length, naming the position', async () => {
      const bad = (row: unknown) => ({ tokens: [ids, row] });
      const cases: [unknown, { row: number; index?: number }, RegExp][] = [
        [bad(ids.slice(0, N - 1)), { row: 1 }, /has 15 ids.*exactly 16/],
        [bad([...ids.slice(0, 3), CODEBOOK, ...ids.slice(4)]), { row: 1, index: 3 }, /outside the codebook \[0, 64\)/],
        [bad([...ids.slice(0, 2), -1, ...ids.slice(3)]), { row: 1, index: 2 }, />= 0/],
        [bad([...ids.slice(0, 5), 1.5, ...ids.slice(6)]), { row: 1, index: 5 }, /integer/],
        [bad([...ids.slice(0, 7), '12', ...ids.slice(8)]), { row: 1, index: 7 }, /integer/],
        [{ tokens_base64: ['AAEC'] }, { row: 0 }, /3 bytes, not a multiple of 2/],
        [{ tokens_base64: ['!!'] }, { row: 0 }, /not valid base64/],
      ];
      for (const [body, position, detail] of cases) {
        const res = await postJson(`${url}/v1/decode`, body);
        assert.equal(res.status, 422, res.text);
        assert.equal(res.json.code, 'invalid_tokens');
        assert.deepEqual(res.json.position, position);
        assert.match(res.json.detail, detail);
      }
      const both = await postJson(`${url}/v1/decode`, { tokens: [ids], tokens_base64: ['AAAA'] });
      assert.equal(both.status, 400);
      const form = new FormData();
      form.append('tokens', JSON.stringify([ids]));
      const multipart = await fetch(`${url}/v1/decode`, { method: 'POST', body: form });
      assert.equal(multipart.status, 415);
      const quality = await postJson(`${url}/v1/decode`, { tokens: [ids], quality: 0 });
      assert.equal(quality.status, 400);
    });
  });

  describe('POST /v1/similarity', () => {
    it('gives cosine and softmax(100 cos) over texts, from images or tokens, JSON or multipart', async () => {
      const texts = ['a photo of a cat', 'a photo of a dog', 'a car'];
      const res = await postJson(`${url}/v1/similarity`, { images: [png.toString('base64'), png2.toString('base64')], texts });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.cosine.length, 2);
      assert.equal(res.json.cosine[0].length, 3);

      const imageEmb = (await postJson(`${url}/v1/encode`, { images: [png.toString('base64'), png2.toString('base64')] })).json.embeddings;
      const textEmb = (await postJson(`${url}/v1/encode`, { texts })).json.embeddings;
      for (let i = 0; i < 2; i++) {
        const cos = textEmb.map((t: number[]) => t.reduce((s, x, k) => s + x * imageEmb[i][k], 0));
        close(res.json.cosine[i], cos, 1e-5);
        const logits = cos.map((c: number) => 100 * c);
        const max = Math.max(...logits);
        const exps = logits.map((l: number) => Math.exp(l - max));
        const sum = exps.reduce((a: number, b: number) => a + b, 0);
        close(res.json.probabilities[i], exps.map((e: number) => e / sum), 1e-4);
      }

      const tokens = (await postJson(`${url}/v1/tokenize`, { images: [png.toString('base64')] })).json.tokens;
      const fromTokens = await postJson(`${url}/v1/similarity`, { tokens, texts });
      close(fromTokens.json.cosine[0], res.json.cosine[0], 1e-6);

      const form = new FormData();
      form.append('image', new Blob([png]), 'a.png');
      for (const t of texts) form.append('texts', t);
      const multipart = (await (await fetch(`${url}/v1/similarity`, { method: 'POST', body: form })).json()) as any;
      close(multipart.cosine[0], res.json.cosine[0], 1e-6);
    });

    it('needs texts and exactly one visual input', async () => {
      assert.equal((await postJson(`${url}/v1/similarity`, { images: [png.toString('base64')] })).status, 400);
      assert.equal((await postJson(`${url}/v1/similarity`, { texts: ['a'] })).status, 400);
      const raw = await fetch(`${url}/v1/similarity`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
      assert.equal(raw.status, 415);
    });
  });

  describe('deadlines and metrics', () => {
    it('a request whose deadline passes before inference gets 504', async () => {
      const big = await sharp(await gradientPng(1600, 1200, 3)).jpeg({ quality: 70 }).toBuffer();
      const res = await postJson(`${url}/v1/encode`, { images: [big.toString('base64')] }, { 'x-request-timeout-ms': '1' });
      assert.equal(res.status, 504, res.text);
      assert.equal(res.json.code, 'deadline_exceeded');
      const bad = await postJson(`${url}/v1/encode`, { texts: ['a'] }, { 'x-request-timeout-ms': 'soon' });
      assert.equal(bad.status, 400);
    });

    it('counts requests, batches, queue and inference times', async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      assert.match(text, /toklip_http_requests_total\{route="\/v1\/tokenize",method="POST",status="200"\} \d+/);
      assert.match(text, /toklip_http_requests_total\{route="\/v1\/decode",method="POST",status="422"\} \d+/);
      assert.match(text, /toklip_batch_size_count\{model="tiny-64",graph="vq_encoder"\} [1-9]/);
      assert.match(text, /toklip_inference_time_seconds_count\{model="tiny-64",graph="semantic_encoder"\} [1-9]/);
      assert.match(text, /toklip_queue_time_seconds_count\{model="tiny-64",graph="text_encoder"\} [1-9]/);
      assert.match(text, /toklip_preprocess_time_seconds_count\{operation="tokenize"\} [1-9]/);
      assert.match(text, /toklip_queue_depth\{model="tiny-64",graph="vq_decoder"\} 0/);
    });
  });
});
