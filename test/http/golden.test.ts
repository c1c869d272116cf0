/**
 * Parity through the whole service: the exporter's fixture bundle (test/fixtures/bundles/tiny-64)
 * served over HTTP must reproduce its golden PyTorch outputs (ids identical; floats within the
 * bundle's stated tolerances; reconstructions within one uint8 step after the spec's mapping).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { type Golden, TINY_MODEL, assertClose, chunks, loadGolden } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';

describe('golden parity through HTTP (tiny-64 fixture bundle)', () => {
  let server: RunningServer;
  let g: Golden;
  let golden: Golden['manifest'];
  let images: string[];
  let ids: number[][];
  const model = TINY_MODEL;

  before(async () => {
    server = await startTestServer();
    g = await loadGolden();
    golden = g.manifest;
    images = g.images.map((b) => b.toString('base64'));
    ids = await g.rows('ids');
  });
  after(() => server.close());

  it('tokenize gives the golden ids', async () => {
    const res = await postJson(`${server.url}/v1/tokenize`, { images, model });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.tokens, ids);
    assert.equal(res.json.codebook_size, 64);
  });

  it('encode (images and tokens) gives the golden embeddings and features', async () => {
    const want = chunks(await g.array('embedding'), 32);
    const wantFeatures = chunks(await g.array('features'), 16 * 32);
    const fromImages = await postJson(`${server.url}/v1/encode`, { images, model, normalize: false, output: 'both' });
    const fromTokens = await postJson(`${server.url}/v1/encode`, { tokens: ids, model, normalize: false, output: 'both' });
    assert.equal(fromImages.status, 200, fromImages.text);
    want.forEach((w, i) => {
      assertClose(fromImages.json.embeddings[i], w, golden.tolerances.embedding!, `embedding ${i}`);
      assertClose(fromImages.json.features[i].flat(), wantFeatures[i]!, golden.tolerances.features!, `features ${i}`);
    });
    assert.deepEqual(fromImages.json.embeddings, fromTokens.json.embeddings, 'encode of images equals encode of their tokens');
    assert.deepEqual(fromImages.json.features, fromTokens.json.features);
  });

  it('a token prefix gives the golden prefix embedding', async () => {
    const want = chunks(await g.array('prefix_embedding'), 32);
    const prefix = ids.map((row) => row.slice(0, golden.prefix_tokens));
    const res = await postJson(`${server.url}/v1/encode`, { tokens: prefix, model, normalize: false });
    assert.equal(res.status, 200, res.text);
    want.forEach((w, i) => assertClose(res.json.embeddings[i], w, golden.tolerances.prefix_embedding!, `prefix embedding ${i}`));
  });

  it('decode of the golden ids equals the golden reconstruction within one uint8 step', async () => {
    const reconstruction = await g.array('reconstruction');
    const res = await postJson(`${server.url}/v1/decode`, { tokens: ids, model, format: 'png' });
    assert.equal(res.status, 200, res.text);
    const R = 64;
    for (const [i, image] of res.json.images.entries()) {
      const { data, info } = await sharp(Buffer.from(image.data, 'base64')).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [R, R, 3]);
      let worst = 0;
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < R * R; p++) {
          const x = reconstruction[((i * 3 + c) * R * R) + p]!;
          const want = Math.trunc(Math.min(255, Math.max(0, 127.5 * x + 128)));
          worst = Math.max(worst, Math.abs(data[p * 3 + c]! - want));
        }
      }
      assert.ok(worst <= 1, `image ${i}: a pixel is ${worst} steps off`);
    }
  });

  it('texts: the bundle tokenizer gives the golden input ids and the text tower the golden embeddings', async () => {
    const wantIds = chunks(await g.array('text_input_ids'), 16);
    const tokenizer = server.engine.registry.get(model)!.textTokenizer!;
    golden.texts.forEach((text, i) => assert.deepEqual(Array.from(tokenizer.encode(text)), wantIds[i], text));
    const want = chunks(await g.array('text_embedding'), 32);
    const res = await postJson(`${server.url}/v1/encode`, { texts: golden.texts, model, normalize: false });
    assert.equal(res.status, 200, res.text);
    want.forEach((w, i) => assertClose(res.json.embeddings[i], w, golden.tolerances.text_embedding!, `text embedding ${i}`));
  });

  it('similarity equals cosine and softmax(100 cos) of the golden embeddings', async () => {
    const img = chunks(await g.array('embedding'), 32);
    const txt = chunks(await g.array('text_embedding'), 32);
    const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
    const res = await postJson(`${server.url}/v1/similarity`, { images, texts: golden.texts, model });
    assert.equal(res.status, 200, res.text);
    img.forEach((v, i) => {
      const cos = txt.map((t) => unit(t).reduce((s, x, k) => s + x * unit(v)[k]!, 0));
      cos.forEach((c, j) => assert.ok(Math.abs(res.json.cosine[i][j] - c) < 1e-3, `cos[${i}][${j}]`));
      const sum = res.json.probabilities[i].reduce((a: number, b: number) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9);
    });
  });
});
