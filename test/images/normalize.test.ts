import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeInto } from '../../src/inference/codecs/normalize.js';

/** torchvision ToTensor + Normalize, each step in float32. */
const reference = (v: number, mean: number, std: number): number =>
  Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(mean)) / Math.fround(std));

test('every uint8 value maps to the float32 value of (x/255 - mean)/std', () => {
  const size = 16; // 256 pixels: pixel i has value i in R, 255 - i in G, i ^ 0x55 in B
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < 256; i++) rgb.set([i, 255 - i, i ^ 0x55], i * 3);
  const mean = [0.5, 0.48145466, 0.40821073];
  const std = [0.5, 0.26862954, 0.27577711];
  const out = new Float32Array(3 * 256);
  normalizeInto(rgb, size, mean, std, out, 0);
  for (let i = 0; i < 256; i++) {
    assert.equal(out[i], reference(i, mean[0]!, std[0]!), `R ${i}`);
    assert.equal(out[256 + i], reference(255 - i, mean[1]!, std[1]!), `G ${i}`);
    assert.equal(out[512 + i], reference(i ^ 0x55, mean[2]!, std[2]!), `B ${i}`);
  }
  // The spec's mean = std = 0.5 gives exactly [-1, 1] at the ends.
  assert.equal(out[0], -1);
  assert.equal(out[255], 1);
});

test('writes CHW planes at the batch offset and nothing else', () => {
  const size = 2;
  const rgb = new Uint8Array([0, 255, 51, 255, 0, 102, 0, 0, 153, 255, 255, 204]);
  const out = new Float32Array(5 + 12 + 3).fill(7);
  normalizeInto(rgb, size, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], out, 5);
  assert.deepEqual(Array.from(out.subarray(0, 5)), [7, 7, 7, 7, 7]);
  assert.deepEqual(Array.from(out.subarray(17)), [7, 7, 7]);
  const plane = (c: number) => Array.from(out.subarray(5 + c * 4, 5 + (c + 1) * 4));
  assert.deepEqual(plane(0), [-1, 1, -1, 1]);
  assert.deepEqual(plane(1), [1, -1, -1, 1]);
  assert.deepEqual(plane(2), [51, 102, 153, 204].map((v) => reference(v, 0.5, 0.5)));
});

test('rejects mismatched sizes, offsets and statistics', () => {
  const out = new Float32Array(12);
  const rgb = new Uint8Array(12);
  assert.throws(() => normalizeInto(rgb.subarray(1), 2, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], out, 0), RangeError);
  assert.throws(() => normalizeInto(rgb, 2, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], out, 1), RangeError);
  assert.throws(() => normalizeInto(rgb, 2, [0.5, 0.5], [0.5, 0.5, 0.5], out, 0), RangeError);
  assert.throws(() => normalizeInto(rgb, 2, [0.5, 0.5, 0.5], [0.5, 0, 0.5], out, 0), RangeError);
});
