/**
 * Meaning, not only shapes: the shipped default model (models/toklip-scenes-128, trained by
 * tools/train) served through the real HTTP service. The meaning tests use pictures of the
 * independent drawn set (test/fixtures/drawn, written by tools/train/toklip_train/drawn_set.py with
 * plain PIL calls, never trained on); the retrieval and reconstruction tests also use held-out
 * scenes of the training generator (test/fixtures/scenes: combinations never trained on).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { postJson, startTestServer } from '../helpers/server.js';

const MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));
const MODEL = 'toklip-scenes-128';
const SCENES = new URL('../fixtures/scenes/', import.meta.url);
const DRAWN = new URL('../fixtures/drawn/', import.meta.url);
const PSNR_FLOOR_DB = 26;
// Below the 26 dB for the drawn set, which this model misses (MODEL_CARD.md, Quality): the
// test guards what it reaches against a regression, not the target.
const DRAWN_PSNR_FLOOR_DB = 20;

interface SceneIndex {
  reconstruction: string[];
  red_circle: string;
  scenes: Record<string, { caption: string }>;
}

interface DrawnIndex {
  colours: string[];
  shapes: string[];
  red_circle: string[];
  reconstruction: string[];
  pictures: Record<string, { colour: string; shape: string; background: string; format: string }>;
}

async function rgb(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

function psnr(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / Math.max(se / a.length, 1e-10));
}

describe(`shipped model ${MODEL} through HTTP`, () => {
  let server: RunningServer;
  let scenes: SceneIndex;
  let drawn: DrawnIndex;
  const scene = (name: string) => readFile(new URL(name, SCENES));
  const picture = (name: string) => readFile(new URL(name, DRAWN));

  before(async () => {
    scenes = JSON.parse(await readFile(new URL('scenes.json', SCENES), 'utf8')) as SceneIndex;
    drawn = JSON.parse(await readFile(new URL('drawn.json', DRAWN), 'utf8')) as DrawnIndex;
    server = await startTestServer({ TOKLIP_MODELS_DIR: MODELS_DIR, TOKLIP_DEFAULT_MODEL: MODEL });
  });
  after(() => server?.close());

  const captions = () => drawn.colours.flatMap((c) => drawn.shapes.map((s) => `a ${c} ${s}`));
  async function scores(image: Buffer, texts: string[]): Promise<{ cosine: number[]; probabilities: number[] }> {
    const res = await postJson(`${server.url}/v1/similarity`, { model: MODEL, images: [image.toString('base64')], texts });
    assert.equal(res.status, 200, res.text);
    return { cosine: res.json.cosine[0], probabilities: res.json.probabilities[0] };
  }

  // Issue 30's assertion: a large red circle drawn on white (PNG and JPEG), a picture of the
  // independent drawn set, against all 40 colour/shape captions (the floors over the whole drawn
  // set are measured by tools/python -m toklip_train.evaluate: MODEL_CARD.md, Quality).
  for (const format of ['png', 'jpeg']) {
    it(`a large red circle drawn on white (${format}) is closer to "a red circle" than to every other colour/shape caption`, async () => {
      const name = drawn.red_circle.find((n) => n.endsWith(`.${format}`))!;
      const texts = captions();
      const { cosine, probabilities } = await scores(await picture(name), texts);
      const target = cosine[texts.indexOf('a red circle')]!;
      const rivals = texts.filter((c, i) => c !== 'a red circle' && cosine[i]! >= target);
      assert.deepEqual(rivals, [], `cos(image, "a red circle") = ${target.toFixed(4)}`);
      // the softmax(100 cos) convention makes the right caption the most probable
      assert.equal(probabilities.indexOf(Math.max(...probabilities)), texts.indexOf('a red circle'));
    });
  }

  it('the full caption of a held-out scene beats the captions of the other held-out scenes', async () => {
    const names = [scenes.red_circle, ...scenes.reconstruction];
    const texts = names.map((n) => scenes.scenes[n]!.caption);
    const images = await Promise.all(names.map(async (n) => (await scene(n)).toString('base64')));
    const res = await postJson(`${server.url}/v1/similarity`, { model: MODEL, images, texts });
    assert.equal(res.status, 200, res.text);
    const correct = res.json.cosine.filter((row: number[], i: number) => row.indexOf(Math.max(...row)) === i).length;
    // image -> text R@1 over these 9 scenes; the model card's floor over 200 scenes is 40 %
    assert.ok(correct / names.length >= 0.5, `R@1 ${correct}/${names.length}`);
  });

  async function meanPsnr(files: Buffer[]): Promise<{ mean: number; values: number[] }> {
    const tok = await postJson(`${server.url}/v1/tokenize`, { model: MODEL, images: files.map((f) => f.toString('base64')) });
    assert.equal(tok.status, 200, tok.text);
    assert.deepEqual(tok.json.grid, [8, 8]);
    const dec = await postJson(`${server.url}/v1/decode`, { model: MODEL, tokens: tok.json.tokens, format: 'png' });
    assert.equal(dec.status, 200, dec.text);
    const values = await Promise.all(
      dec.json.images.map(async (img: { data: string }, i: number) =>
        psnr(await rgb(files[i]!), await rgb(Buffer.from(img.data, 'base64'))),
      ),
    );
    return { mean: values.reduce((s, v) => s + v, 0) / values.length, values };
  }

  it(`tokenize -> decode of held-out scenes reaches ${PSNR_FLOOR_DB} dB (mean PSNR)`, async () => {
    const { mean, values } = await meanPsnr(await Promise.all(scenes.reconstruction.map(scene)));
    assert.ok(mean >= PSNR_FLOOR_DB, `mean PSNR ${mean.toFixed(2)} dB (${values.map((v) => v.toFixed(1)).join(', ')})`);
  });

  it(`tokenize -> decode of drawn pictures (PNG and JPEG) reaches ${DRAWN_PSNR_FLOOR_DB} dB (mean PSNR)`, async () => {
    const { mean, values } = await meanPsnr(await Promise.all(drawn.reconstruction.map(picture)));
    assert.ok(mean >= DRAWN_PSNR_FLOOR_DB, `mean PSNR ${mean.toFixed(2)} dB (${values.map((v) => v.toFixed(1)).join(', ')})`);
  });
});
