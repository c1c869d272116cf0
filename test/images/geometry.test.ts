import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planResizeCrop, roundHalfEven } from '../../src/images/geometry.js';

test('roundHalfEven rounds ties to even like Python round()', () => {
  const cases: Array<[number, number]> = [
    [0.5, 0], [1.5, 2], [2.5, 2], [42.5, 42], [85.5, 86], [64.5, 64], [96.5, 96],
    [0.49, 0], [0.51, 1], [3, 3], [-0.5, 0], [-1.5, -2],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x), want, `round(${x})`);
});

test('shortest side to R, long side floor(R*long/short), centre offsets (spec examples)', () => {
  // Spec section 6: 640x480 at 384 -> 512x384.
  assert.deepEqual(planResizeCrop(640, 480, 384), { resizedWidth: 512, resizedHeight: 384, left: 64, top: 0, size: 384 });
  // Width counts as the short side when equal.
  assert.deepEqual(planResizeCrop(300, 300, 256), { resizedWidth: 256, resizedHeight: 256, left: 0, top: 0, size: 256 });
  // (W' - R) odd: 1001x600 at 128 -> 213 wide, (213-128)/2 = 42.5 -> 42; at 256 -> 427, 85.5 -> 86.
  assert.equal(planResizeCrop(1001, 600, 128).left, 42);
  assert.equal(planResizeCrop(1001, 600, 256).left, 86);
  // Portrait: 301 wide stays the long side when it is the height.
  assert.deepEqual(planResizeCrop(200, 301, 256), { resizedWidth: 256, resizedHeight: 385, left: 0, top: 64, size: 256 });
  // Extreme aspect ratios are plans, not allocations.
  assert.deepEqual(planResizeCrop(1, 20000, 256), { resizedWidth: 256, resizedHeight: 5_120_000, left: 0, top: 2_559_872, size: 256 });
});

test('planResizeCrop refuses empty geometry', () => {
  assert.throws(() => planResizeCrop(0, 10, 256), RangeError);
  assert.throws(() => planResizeCrop(10, 10, 0), RangeError);
});
