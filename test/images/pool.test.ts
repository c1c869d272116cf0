import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { createImagePreprocessor, preprocessImage, type ImagePreprocessor } from '../../src/images/index.js';
import { fixtureCases, fixtureInput, readFixture, specFor } from './fixtures.js';

let pool: ImagePreprocessor;
before(() => {
  pool = createImagePreprocessor({ threads: 2, limits: { maxInputPixels: 10_000_000, maxInputBytes: 8 * 2 ** 20 } });
});
after(async () => {
  await pool.close();
});

test('worker results equal in-thread results for every fixture', async () => {
  // Runs while the pool's workers start: a worker's start-up must not disturb decodes here.
  const outcomes = await Promise.allSettled(
    fixtureCases().map(async (entry) => {
      const bytes = readFixture(entry.input);
      const [fromPool, inline] = await Promise.all([pool.preprocess(bytes, specFor(128)), preprocessImage(bytes, specFor(128))]);
      assert.deepEqual(fromPool.rgb, inline.rgb, entry.name);
      assert.deepEqual(fromPool.source, inline.source, entry.name);
    }),
  );
  const failures = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`${fixtureCases()[i]!.name}: ${String(o.reason)}`] : []));
  assert.deepEqual(failures, []);
});

test('refusals come back as ServiceErrors with code, detail and extensions', async () => {
  await assert.rejects(pool.preprocess(Buffer.from('<svg/>'), specFor(128)), (error: unknown) => {
    assert.ok(error instanceof ServiceError);
    assert.equal(error.code, 'unsupported_image_format');
    assert.deepEqual(error.extensions, { format: 'svg' });
    return true;
  });
  // The pool's own limits apply (10 MP here).
  const big = Buffer.from(fixtureInput('rgb-2400x1600'));
  const sof = big.indexOf(Buffer.from([0xff, 0xc0]));
  big.writeUInt16BE(4000, sof + 5);
  big.writeUInt16BE(3000, sof + 7);
  await assert.rejects(pool.preprocess(big, specFor(128)), (error: unknown) =>
    error instanceof ServiceError && error.code === 'image_too_large' && /limit is 10000000 pixels/.test(error.message));
});

test('a view into a larger buffer sends only its own bytes', async () => {
  const png = fixtureInput('rgb-37x50');
  const body = Buffer.concat([Buffer.alloc(1000, 7), png, Buffer.alloc(1000, 9)]);
  const view = body.subarray(1000, 1000 + png.length);
  const image = await pool.preprocess(view, specFor(128));
  assert.deepEqual(image.rgb, (await preprocessImage(png, specFor(128))).rgb);
  assert.equal(body[1000], png[0], 'the caller keeps its buffer');
});

test('an image still waiting for a worker is dropped when its signal aborts', async () => {
  const single = createImagePreprocessor({ threads: 1, tasksPerThread: 1 });
  try {
    const big = fixtureInput('rgb-2400x1600');
    const first = single.preprocess(big, specFor(256));
    const controller = new AbortController();
    const second = single.preprocess(big, specFor(256), { signal: controller.signal });
    assert.equal(single.running, 1);
    assert.equal(single.queued, 1);
    controller.abort(new ServiceError('deadline_exceeded', 'request deadline passed'));
    await assert.rejects(second, (error: unknown) => error instanceof ServiceError && error.code === 'deadline_exceeded');
    assert.equal(single.queued, 0);
    assert.equal((await first).rgb.length, 256 * 256 * 3, 'the running image is not disturbed');
  } finally {
    await single.close();
  }
  await assert.rejects(single.preprocess(fixtureInput('rgb-37x50'), specFor(64)), (error: unknown) =>
    error instanceof ServiceError && error.code === 'shutting_down');
});

test('many concurrent images all complete', async () => {
  const bytes = fixtureInput('rgb-640x480');
  const expected = (await preprocessImage(bytes, specFor(128))).rgb;
  const results = await Promise.all(Array.from({ length: 24 }, () => pool.preprocess(bytes, specFor(128))));
  for (const r of results) assert.deepEqual(r.rgb, expected);
  assert.equal(pool.queued, 0);
});

test('predictWaitMs: nothing before an image was measured, then the waiting and new images at the measured time per image', async () => {
  const fresh = createImagePreprocessor({ threads: 1, tasksPerThread: 1 });
  try {
    assert.equal(fresh.predictWaitMs(1), undefined);
    await fresh.preprocess(fixtureInput('rgb-37x50'), specFor(128));
    const one = fresh.predictWaitMs(1)!;
    assert.ok(one > 0);
    // One slot, nothing waiting: n images take n times one.
    assert.equal(fresh.predictWaitMs(4), 4 * one);
  } finally {
    await fresh.close();
  }
});
