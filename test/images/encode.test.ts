import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { ServiceError } from '../../src/errors.js';
import { encodeRgb, type ReconstructionFormat } from '../../src/images/index.js';
import { reconstructionToRgb, reconstructionValueToPixel } from '../../src/inference/codecs/reconstruction.js';

/** Raw decoder output -> file, as the service does it: the worker's pixel mapping, then encodeRgb. */
const encodeReconstruction = (pixels: Float32Array, size: number, format: ReconstructionFormat, quality?: number) =>
  encodeRgb(reconstructionToRgb(pixels, size), size, format, quality);

/** The spec's mapping computed independently: float32 torch ops, then a truncating cast. */
function specPixel(x: number): number {
  const v = Math.fround(Math.fround(Math.fround(x) * 127.5) + 128);
  return Number.isNaN(v) ? 0 : Math.trunc(Math.min(255, Math.max(0, v)));
}

test('uint8(clamp(127.5x + 128, 0, 255)) truncates at the boundaries', () => {
  const cases: Array<[number, number]> = [
    [-1, 0], // 0.5 -> 0
    [1, 255], // 255.5 -> clamp 255
    [0, 128],
    [-1.01, 0],
    [1.5, 255],
    [-0.5 / 127.5, 127], // 127.5 -> 127: truncation, not rounding
    [0.5 / 127.5, 128], // 128.5 -> 128
    [127 / 127.5, 255], // exactly 255 -> 255
    [-128 / 127.5, 0], // exactly 0
    [Number.POSITIVE_INFINITY, 255],
    [Number.NEGATIVE_INFINITY, 0],
    [Number.NaN, 0],
  ];
  for (const [x, want] of cases) assert.equal(reconstructionValueToPixel(x), want, `x = ${x}`);
});

test('every float32 just below and above each integer step matches the spec formula', () => {
  for (let k = 0; k <= 256; k++) {
    const x = Math.fround((k - 128) / 127.5);
    for (const probe of [x, Math.fround(x - 1e-6), Math.fround(x + 1e-6)]) {
      assert.equal(reconstructionValueToPixel(probe), specPixel(probe), `x = ${probe}`);
    }
  }
});

test('reconstructionToRgb turns CHW planes into HWC pixels', () => {
  const size = 2;
  const chw = new Float32Array([-1, 1, 0, 0.5, /* G */ 1, -1, 0, -0.5, /* B */ 0, 0, 1, -1]);
  assert.deepEqual(Array.from(reconstructionToRgb(chw, size)), [0, 255, 128, 255, 0, 128, 128, 128, 255, 191, 64, 0]);
  assert.throws(() => reconstructionToRgb(new Float32Array(11), 2), RangeError);
});

function pattern(size: number): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) out[c * size * size + y * size + x] = Math.sin((x + 1) * (c + 1) * 0.05 + y * 0.03) * 1.1;
    }
  }
  return out;
}

async function decodeRgb(data: Buffer): Promise<Uint8Array> {
  const { data: raw, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return new Uint8Array(raw);
}

test('png round-trips exactly; jpeg and webp stay close', async (t) => {
  const size = 64;
  const pixels = pattern(size);
  const expected = reconstructionToRgb(pixels, size);
  for (const [format, mime, maxMean] of [['png', 'image/png', 0], ['jpeg', 'image/jpeg', 2], ['webp', 'image/webp', 2.5]] as const) {
    const encoded = await encodeReconstruction(pixels, size, format, 95);
    assert.equal(encoded.mime, mime);
    const meta = await sharp(encoded.data).metadata();
    assert.equal(meta.format, format);
    assert.deepEqual([meta.width, meta.height], [size, size]);
    const back = await decodeRgb(encoded.data);
    let sum = 0;
    for (let i = 0; i < back.length; i++) sum += Math.abs(back[i]! - expected[i]!);
    const mean = sum / back.length;
    t.diagnostic(`${format}: mean abs diff after round trip ${mean.toFixed(3)}`);
    assert.ok(mean <= maxMean, `${format} mean ${mean}`);
  }
});

test('encodeRgb encodes uint8 pixels converted elsewhere (e.g. in the inference worker)', async () => {
  const size = 32;
  const rgb = reconstructionToRgb(pattern(size), size);
  const viaRgb = await encodeRgb(rgb, size, 'png');
  const viaFloats = await encodeReconstruction(pattern(size), size, 'png');
  assert.deepEqual(await decodeRgb(viaRgb.data), await decodeRgb(viaFloats.data));
  await assert.rejects(encodeRgb(rgb.subarray(1), size, 'png'), RangeError);
});

test('quality must be an integer in 1..100', async () => {
  const pixels = pattern(8);
  for (const quality of [0, 101, 2.5]) {
    await assert.rejects(encodeReconstruction(pixels, 8, 'jpeg', quality), (e: unknown) => e instanceof ServiceError && e.code === 'bad_request');
  }
  const low = await encodeReconstruction(pattern(64), 64, 'jpeg', 5);
  const high = await encodeReconstruction(pattern(64), 64, 'jpeg', 100);
  assert.ok(low.data.length < high.data.length, 'quality reaches the encoder');
});
