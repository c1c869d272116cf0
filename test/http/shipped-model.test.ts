/**
 * Meaning, not only shapes: the shipped default model (models/toklip-scenes-128, trained by
 * tools/train on generated scenes) served through the real HTTP service. The images are
 * held-out scenes (test/fixtures/scenes, written by tools/train/make_test_scenes.py): their
 * attribute combinations never occurred in training.
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
const PSNR_FLOOR_DB = 26;

interface SceneIndex {
  colours: string[];
  shapes: string[];
  red_circle: string;
  reconstruction: string[];
  scenes: Record<string, { caption: string }>;
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
  let index: SceneIndex;
  const png = (name: string) => readFile(new URL(name, SCENES));

  before(async () => {
    index = JSON.parse(await readFile(new URL('scenes.json', SCENES), 'utf8')) as SceneIndex;
    server = await startTestServer({ TOKLIP_MODELS_DIR: MODELS_DIR, TOKLIP_DEFAULT_MODEL: MODEL });
  });
  after(() => server?.close());

  const captions = () => index.colours.flatMap((c) => index.shapes.map((s) => `a ${c} ${s}`));
  async function redCircleScores(texts: string[]): Promise<{ cosine: number[]; probabilities: number[] }> {
    const image = (await png(index.red_circle)).toString('base64');
    const res = await postJson(`${server.url}/v1/similarity`, { model: MODEL, images: [image], texts });
    assert.equal(res.status, 200, res.text);
    return { cosine: res.json.cosine[0], probabilities: res.json.probabilities[0] };
  }

  it('a held-out red circle is closer to "a red circle" than to every caption of another colour', async () => {
    const texts = captions();
    const { cosine } = await redCircleScores(texts);
    const target = cosine[texts.indexOf('a red circle')]!;
    const rivals = texts.filter((c, i) => !c.startsWith('a red ') && cosine[i]! >= target);
    assert.deepEqual(rivals, [], `cos(image, "a red circle") = ${target.toFixed(4)}`);
  });

  // Issue 4's assertion, on the one held-out image the service tests ship (the zero-shot floors over
  // 500 held-out scenes are measured by tools/train/evaluate.py: MODEL_CARD.md, Quality).
  it('a held-out red circle is closer to "a red circle" than to every other colour/shape caption', async () => {
    const captions = index.colours.flatMap((c) => index.shapes.map((s) => `a ${c} ${s}`));
    const { cosine, probabilities } = await redCircleScores(captions);
    const target = cosine[captions.indexOf('a red circle')]!;
    const rivals = captions.filter((c, i) => c !== 'a red circle' && cosine[i]! >= target);
    assert.deepEqual(rivals, [], `cos(image, "a red circle") = ${target.toFixed(4)}`);
    // the softmax(100 cos) convention makes the right caption the most probable
    assert.equal(probabilities.indexOf(Math.max(...probabilities)), captions.indexOf('a red circle'));
  });

  it('the full caption of a held-out scene beats the captions of the other held-out scenes', async () => {
    const names = [index.red_circle, ...index.reconstruction];
    const captions = names.map((n) => index.scenes[n]!.caption);
    const images = await Promise.all(names.map(async (n) => (await png(n)).toString('base64')));
    const res = await postJson(`${server.url}/v1/similarity`, { model: MODEL, images, texts: captions });
    assert.equal(res.status, 200, res.text);
    const correct = res.json.cosine.filter((row: number[], i: number) => row.indexOf(Math.max(...row)) === i).length;
    // image -> text R@1 over these 9 scenes; the model card's floor over 200 scenes is 40 %
    assert.ok(correct / names.length >= 0.5, `R@1 ${correct}/${names.length}`);
  });

  it(`tokenize -> decode of held-out scenes reaches ${PSNR_FLOOR_DB} dB (mean PSNR)`, async () => {
    const pngs = await Promise.all(index.reconstruction.map(png));
    const tok = await postJson(`${server.url}/v1/tokenize`, { model: MODEL, images: pngs.map((p) => p.toString('base64')) });
    assert.equal(tok.status, 200, tok.text);
    assert.deepEqual(tok.json.grid, [8, 8]);
    const dec = await postJson(`${server.url}/v1/decode`, { model: MODEL, tokens: tok.json.tokens, format: 'png' });
    assert.equal(dec.status, 200, dec.text);
    const values = await Promise.all(
      dec.json.images.map(async (img: { data: string }, i: number) =>
        psnr(await rgb(pngs[i]!), await rgb(Buffer.from(img.data, 'base64'))),
      ),
    );
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    assert.ok(mean >= PSNR_FLOOR_DB, `mean PSNR ${mean.toFixed(2)} dB (${values.map((v) => v.toFixed(1)).join(', ')})`);
  });
});
