import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { encodeRgb, preprocessImage, type PreprocessSpec } from '../../src/images/index.js';
import { normalizeInto } from '../../src/inference/codecs/normalize.js';
import { reconstructionToRgb } from '../../src/inference/codecs/reconstruction.js';

const spec = (size: number): PreprocessSpec => ({ size, resize: 'shortest', interpolation: 'bicubic', crop: 'center' });

test('preprocessImage returns size x size x 3 RGB and the source header', async () => {
  const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .png()
    .toBuffer();
  const image = await preprocessImage(png, spec(256));
  assert.equal(image.size, 256);
  assert.equal(image.rgb.length, 256 * 256 * 3);
  assert.deepEqual([image.rgb[0], image.rgb[1], image.rgb[2]], [10, 200, 30]);
  assert.equal(image.source.format, 'png');
  assert.equal(image.source.width, 300);
  assert.equal(image.source.height, 200);
});

test('normalizeInto writes CHW planes at the offset', () => {
  const rgb = new Uint8Array([0, 128, 255]); // one pixel
  const out = new Float32Array(2 + 3);
  normalizeInto(rgb, 1, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], out, 2);
  assert.deepEqual(Array.from(out.subarray(2)), [-1, Math.fround(Math.fround(Math.fround(128 / 255) - 0.5) / 0.5), 1]);
});

test('a reconstruction round-trips as a PNG', async () => {
  const size = 4;
  const pixels = new Float32Array(3 * size * size).map((_, i) => (i % 7) / 3.5 - 1);
  const { mime, data } = await encodeRgb(reconstructionToRgb(pixels, size), size, 'png');
  assert.equal(mime, 'image/png');
  const { data: back, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, size);
  assert.equal(back.length, size * size * 3);
});
