/**
 * The cache benchmark's request streams (bench/lib/workloads.ts): a tagged JPEG is another file
 * with the same pixels; repeat90 repeats exactly 9 of every 10 images once its popular ones were
 * sent; unique never repeats one.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import sharp from 'sharp';
import { picture } from '../../bench/lib/images.js';
import { tagJpeg, workload } from '../../bench/lib/workloads.js';

const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a tagged JPEG is another file that decodes to the same pixels', async () => {
  const jpeg = await picture(64, 'jpeg');
  const tagged = tagJpeg(jpeg, 'run:unique:7');
  assert.notEqual(digest(tagged), digest(jpeg));
  assert.notEqual(digest(tagged), digest(tagJpeg(jpeg, 'run:unique:8')));
  const [a, b] = await Promise.all([sharp(jpeg).raw().toBuffer(), sharp(tagged).raw().toBuffer()]);
  assert.ok(a.equals(b));
  assert.throws(() => tagJpeg(Buffer.from('not a jpeg'), 'x'), /SOI/);
});

test('repeat90: 9 of 10 requests repeat a popular image, the tenth is new; unique: nothing repeats', async () => {
  const bases = await Promise.all([48, 56, 64].map((w) => picture(w, 'jpeg')));
  const popular = 8;
  const stream = workload('repeat90', { bases, popular, salt: 's' });
  const seen = new Set<string>();
  let repeated = 0;
  const n = 1000;
  for (let i = 0; i < n; i++) {
    const key = digest(stream.body(i));
    if (seen.has(key)) repeated++;
    seen.add(key);
    assert.equal(stream.repeats(i), i % 10 !== 9);
  }
  // Every popular image is new once: 900 repeats but the first sending of each.
  assert.equal(repeated, 900 - popular);
  assert.equal(seen.size, 100 + popular);
  // The same stream for every setting of one run; another run's files differ.
  assert.equal(digest(workload('repeat90', { bases, popular, salt: 's' }).body(9)), digest(stream.body(9)));
  assert.notEqual(digest(workload('repeat90', { bases, popular, salt: 't' }).body(9)), digest(stream.body(9)));

  const unique = workload('unique', { bases, popular, salt: 's' });
  const keys = new Set(Array.from({ length: 300 }, (_, i) => digest(unique.body(i))));
  assert.equal(keys.size, 300);
});
