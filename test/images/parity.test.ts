/**
 * Parity with the official preprocessing (Pillow + torchvision, reference outputs made by
 * test/fixtures/images/make_fixtures.py). The bound is mean |diff| <= 0.5/255 and
 * max <= 3/255; the resampler is a bit-exact port of Pillow's, so every fixture whose decoded
 * pixels equal Pillow's must match exactly, and the test holds it to that.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preprocessImage } from '../../src/images/index.js';
import { diffStats, fixtureCases, readFixture, readReference, specFor } from './fixtures.js';

/** Inputs whose decoders may legitimately differ from Pillow's (lossy WebP). */
const NOT_BIT_EXACT = new Set(['rgb-400x300-lossy']);

for (const entry of fixtureCases()) {
  for (const [size, reference] of Object.entries(entry.references)) {
    test(`parity ${entry.name} (${entry.width}x${entry.height}) at R=${size}`, async (t) => {
      const image = await preprocessImage(readFixture(entry.input), specFor(Number(size)));
      const stats = diffStats(image.rgb, readReference(reference));
      t.diagnostic(
        `mean ${stats.mean.toFixed(4)}/255  max ${stats.max}/255  differing ${stats.differing}/${image.rgb.length}`,
      );
      assert.ok(stats.mean <= 0.5, `mean abs diff ${stats.mean} > 0.5`);
      assert.ok(stats.max <= 3, `max abs diff ${stats.max} > 3`);
      if (!NOT_BIT_EXACT.has(entry.name)) assert.equal(stats.max, 0, 'expected bit-exact parity with Pillow');
    });
  }
}
