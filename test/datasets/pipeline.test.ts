/** The ordered window: output in input order, at most `window` items in flight, failures passed on after in-flight work settles. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DuplicateResults } from '../../src/datasets/dedupe.js';
import { runOrdered } from '../../src/datasets/pipeline.js';

async function* numbers(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

/** Work that finishes in the reverse order of its start within each window. */
function reversing() {
  const pending: { resolve: () => void }[] = [];
  let inFlight = 0;
  let most = 0;
  return {
    get most() {
      return most;
    },
    work: (i: number) => {
      inFlight++;
      most = Math.max(most, inFlight);
      return new Promise<number>((resolve) => {
        pending.push({ resolve: () => resolve(i * 10) });
        queueMicrotask(() => {
          // Resolve everything started so far, newest first.
          while (pending.length > 0) pending.pop()!.resolve();
        });
      }).finally(() => inFlight--);
    },
  };
}

describe('ordered window', () => {
  it('hands results to the sink in input order, with at most `window` in flight', async () => {
    const r = reversing();
    const seen: number[] = [];
    await runOrdered(numbers(50), r.work, async (i, out) => {
      assert.equal(out, i * 10);
      seen.push(i);
    }, { window: 4 });
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i));
    assert.ok(r.most <= 4, `at most 4 in flight, saw ${r.most}`);
  });

  it('passes a failure on once the work in flight has settled', async () => {
    let settled = 0;
    const work = (i: number) => (i === 3 ? Promise.reject(new Error('boom')) : Promise.resolve(i).finally(() => settled++));
    await assert.rejects(runOrdered(numbers(10), work, async () => undefined, { window: 5 }), /boom/);
    assert.ok(settled >= 3);
  });
});

describe('result cache (identical bytes computed once)', () => {
  it('computes each content once, twins waiting for a pending computation', async () => {
    const cache = new DuplicateResults<string>(1 << 20, (v) => v.length);
    let computed = 0;
    const compute = (v: string) => () => new Promise<string>((resolve) => setImmediate(() => resolve(`${v}${++computed}`)));
    const [a, b] = await Promise.all([cache.get('sha-a', compute('a')), cache.get('sha-a', compute('a'))]);
    assert.equal(a, 'a1');
    assert.equal(b, 'a1');
    assert.equal(await cache.get('sha-a', compute('a')), 'a1');
    assert.equal(cache.hits, 2);
    assert.equal(computed, 1);
  });

  it('forgets the oldest results beyond its memory, and never failures', async () => {
    const cache = new DuplicateResults<string>(2 * (10 + 128), (v) => v.length);
    for (const key of ['1', '2', '3']) await cache.get(key, async () => 'x'.repeat(10));
    assert.equal(cache.size, 2);
    let calls = 0;
    await cache.get('1', async () => `again${++calls}`);
    assert.equal(calls, 1, 'the oldest was dropped');
    await assert.rejects(cache.get('f', () => Promise.reject(new Error('engine down'))));
    assert.equal(await cache.get('f', async () => 'ok'), 'ok');
    assert.equal(new DuplicateResults<string>(0, () => 1).size, 0);
  });
});
