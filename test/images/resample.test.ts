import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { planResizeCrop } from '../../src/images/geometry.js';
import { bicubicAxis, resampleRgb, resampleScalar, simdResampleAvailable } from '../../src/images/resample.js';
import { generatedKernelsModule } from '../../scripts/build-wasm.js';

function constantRegion(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) out.set(rgb, i * 3);
  return out;
}

test('bicubicAxis: weights of every output sum to one in 22-bit fixed point (within rounding)', () => {
  for (const [inSize, outSize] of [[640, 341], [100, 384], [2, 89600], [4000, 256], [257, 258]] as const) {
    const count = Math.min(outSize, 256);
    const from = outSize - count;
    const axis = bicubicAxis(inSize, outSize, from, count);
    for (let j = 0; j < count; j++) {
      let sum = 0;
      for (let t = 0; t < axis.taps[j]!; t++) sum += axis.weights[j * axis.stride + t]!;
      assert.ok(Math.abs(sum - (1 << 22)) <= axis.taps[j]!, `${inSize}->${outSize} output ${from + j}: ${sum}`);
      assert.ok(axis.first[j]! >= axis.start && axis.first[j]! + axis.taps[j]! <= axis.end);
    }
    assert.ok(axis.start >= 0 && axis.end <= inSize);
  }
});

test('bicubicAxis: equal sizes are an identity pass, like Pillow skipping it', () => {
  const axis = bicubicAxis(300, 300, 22, 256);
  assert.equal(axis.identity, true);
  assert.equal(axis.start, 22);
  assert.equal(axis.end, 278);
});

test('bicubicAxis: the read window follows the crop, not the resized length', () => {
  // 20000 rows upscaled to 5,120,000: the centre 256 rows read only a handful of input rows.
  const axis = bicubicAxis(20000, 5_120_000, 2_559_872, 256);
  assert.ok(axis.end - axis.start <= 6, `reads ${axis.end - axis.start} rows`);
  assert.throws(() => bicubicAxis(10, 20, 15, 10), RangeError);
});

test('resampleRgb keeps a constant image constant (down- and upscaling)', () => {
  for (const [w, h, outW, outH] of [[640, 480, 341, 256], [37, 50, 256, 345], [3, 900, 256, 76800]] as const) {
    const x = bicubicAxis(w, outW, Math.floor((outW - 256) / 2), 256);
    const y = bicubicAxis(h, outH, Math.floor((outH - 256) / 2), 256);
    const region = constantRegion(x.end - x.start, y.end - y.start, [12, 200, 255]);
    const out = resampleRgb(region, x.end - x.start, x, y);
    for (let i = 0; i < out.length; i += 3) {
      assert.deepEqual([out[i], out[i + 1], out[i + 2]], [12, 200, 255], `${w}x${h} pixel ${i / 3}`);
    }
  }
});

test('resampleRgb rejects a region that does not match the kernels', () => {
  const x = bicubicAxis(10, 20, 0, 4);
  const y = bicubicAxis(10, 20, 0, 4);
  assert.throws(() => resampleRgb(new Uint8Array(5), x.end - x.start, x, y), RangeError);
});

test('property: resampling only the crop window equals resizing everything, then cropping', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 120 }),
      fc.integer({ min: 1, max: 120 }),
      fc.integer({ min: 1, max: 48 }),
      fc.integer(),
      (width, height, size, seed) => {
        const plan = planResizeCrop(width, height, size);
        const image = new Uint8Array(width * height * 3);
        let s = seed >>> 0;
        for (let i = 0; i < image.length; i++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          image[i] = (s >>> 16) & 0xff;
        }
        // Whole resize, then crop.
        const fx = bicubicAxis(width, plan.resizedWidth, 0, plan.resizedWidth);
        const fy = bicubicAxis(height, plan.resizedHeight, 0, plan.resizedHeight);
        const full = resampleRgb(image, width, fx, fy);
        // Crop window only, reading only the region it needs.
        const x = bicubicAxis(width, plan.resizedWidth, plan.left, size);
        const y = bicubicAxis(height, plan.resizedHeight, plan.top, size);
        const region = new Uint8Array((x.end - x.start) * (y.end - y.start) * 3);
        for (let r = y.start; r < y.end; r++) {
          region.set(image.subarray((r * width + x.start) * 3, (r * width + x.end) * 3), (r - y.start) * (x.end - x.start) * 3);
        }
        const windowed = resampleRgb(region, x.end - x.start, x, y);
        for (let r = 0; r < size; r++) {
          const from = ((plan.top + r) * plan.resizedWidth + plan.left) * 3;
          assert.deepEqual(windowed.subarray(r * size * 3, (r + 1) * size * 3), full.subarray(from, from + size * 3));
        }
      },
    ),
    { numRuns: 150 },
  );
});

/**
 * Pillow's two passes written the plain way (one value, one tap at a time, int32 sums, clip
 * after each pass): the reference for resampleRgb's blocked loops (four rows, four values at
 * a time) and their remainders, at every width and height.
 */
function referenceResample(region: Uint8Array, regionWidth: number, x: ReturnType<typeof bicubicAxis>, y: ReturnType<typeof bicubicAxis>): Uint8Array {
  const clip = (acc: number) => Math.min(255, Math.max(0, acc >> 22));
  const rows = y.end - y.start;
  const outW = x.first.length;
  const mid = new Uint8Array(rows * outW * 3);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outW; j++) {
      for (let c = 0; c < 3; c++) {
        if (x.identity) {
          mid[(r * outW + j) * 3 + c] = region[(r * regionWidth + x.first[j]! - x.start) * 3 + c]!;
          continue;
        }
        let acc = 1 << 21;
        for (let t = 0; t < x.taps[j]!; t++) acc = (acc + region[(r * regionWidth + x.first[j]! - x.start + t) * 3 + c]! * x.weights[j * x.stride + t]!) | 0;
        mid[(r * outW + j) * 3 + c] = clip(acc);
      }
    }
  }
  const outH = y.first.length;
  const out = new Uint8Array(outH * outW * 3);
  for (let i = 0; i < outH; i++) {
    for (let v = 0; v < outW * 3; v++) {
      if (y.identity) {
        out[i * outW * 3 + v] = mid[(y.first[i]! - y.start) * outW * 3 + v]!;
        continue;
      }
      let acc = 1 << 21;
      for (let t = 0; t < y.taps[i]!; t++) acc = (acc + mid[(y.first[i]! - y.start + t) * outW * 3 + v]! * y.weights[i * y.stride + t]!) | 0;
      out[i * outW * 3 + v] = clip(acc);
    }
  }
  return out;
}

test('property: resampleRgb equals the plain tap-by-tap Pillow passes at every shape (loop remainders included)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 90 }),
      fc.integer({ min: 1, max: 90 }),
      fc.integer({ min: 1, max: 41 }),
      fc.integer(),
      (width, height, size, seed) => {
        const plan = planResizeCrop(width, height, size);
        const x = bicubicAxis(width, plan.resizedWidth, plan.left, size);
        const y = bicubicAxis(height, plan.resizedHeight, plan.top, size);
        const regionWidth = x.end - x.start;
        const region = new Uint8Array(regionWidth * (y.end - y.start) * 3);
        let s = seed >>> 0;
        for (let i = 0; i < region.length; i++) {
          s = (Math.imul(s, 1103515245) + 12345) >>> 0;
          // Hard edges and flat runs, so that both passes overshoot and clip.
          region[i] = (s >>> 29) < 2 ? ((s >>> 28) & 1) * 255 : (s >>> 16) & 0xff;
        }
        const reference = referenceResample(region, regionWidth, x, y);
        assert.deepEqual(resampleRgb(region, regionWidth, x, y), reference);
        assert.deepEqual(resampleScalar(region, regionWidth, x, y), reference);
      },
    ),
    { numRuns: 200 },
  );
});

test('the WebAssembly SIMD kernels load here, so the properties above test them', () => {
  assert.equal(simdResampleAvailable(), true);
});

test('src/images/resample-kernels-wasm.ts is compiled from the current .wat (npm run build:wasm)', async () => {
  const committed = readFileSync(new URL('../../src/images/resample-kernels-wasm.ts', import.meta.url), 'utf8');
  assert.equal(committed, await generatedKernelsModule());
});
