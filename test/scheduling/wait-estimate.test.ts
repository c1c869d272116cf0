/**
 * The wait model of admission (src/scheduling/wait-estimate.ts and the Dispatcher's view of the
 * batches handed to the workers): predicted completion from batch times measured on a fake
 * clock. No sleeps: the test advances the clock and finishes each batch by hand. The decisions
 * made with it are tested with the admission controller (test/engine/admission.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher, type WorkContext } from '../../src/scheduling/batcher.js';
import { Dispatcher } from '../../src/scheduling/dispatcher.js';
import { predictCompletionMs } from '../../src/scheduling/wait-estimate.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { ManualRunner } from '../helpers/manual-runner.js';

function setup(opts: { staging?: number; maxBatch?: number } = {}) {
  const clock = new FakeClock();
  const runner = new ManualRunner(clock);
  const dispatcher = new Dispatcher({ capacity: 1, staging: opts.staging ?? 0, clock });
  const g = new Batcher<number, number>({ name: 'g', maxBatch: opts.maxBatch ?? 4, maxDelayMs: 0, queueLimit: 100, clock, runner: runner.run });
  dispatcher.add(g);
  let n = 0;
  const submit = (items: number) => g.submit(Array.from({ length: items }, (_, i) => ({ input: i, key: 'k' })), { requestId: `r${n++}` } satisfies WorkContext);
  /** Runs one batch that takes `ms` on the clock (the only slot must be free). */
  const measure = async (ms: number) => {
    const done = submit(1);
    clock.advance(ms);
    await runner.finishOldest();
    await done;
  };
  return { clock, runner, dispatcher, g, submit, measure };
}

describe('predicted completion (pure)', () => {
  const stage = { maxBatch: 4, batchMs: 100 };

  it('counts queued items in batches of max batch, the running work, and its own batches, shared by the slots', () => {
    const queues = [
      { ...stage, queued: 5 }, // 2 batches: 200 ms
      { maxBatch: 8, batchMs: 30, queued: 8 }, // 1 batch: 30 ms
    ];
    assert.equal(predictCompletionMs({ slots: 1, queues, runningRemainingMs: 70, stages: [stage], items: 6 }), 200 + 30 + 70 + 200);
    assert.equal(predictCompletionMs({ slots: 2, queues, runningRemainingMs: 70, stages: [stage], items: 6 }), 250);
  });

  it('a request takes at least one batch of each of its stages, whatever the slots', () => {
    const later = { maxBatch: 4, batchMs: 50 };
    assert.equal(predictCompletionMs({ slots: 8, queues: [], runningRemainingMs: 0, stages: [stage, later], items: 1 }), 150);
  });

  it('no prediction while one of its own stages is unmeasured; unmeasured queues ahead count as free', () => {
    const cold = { maxBatch: 4, batchMs: 0 };
    assert.equal(predictCompletionMs({ slots: 1, queues: [], runningRemainingMs: 0, stages: [stage, cold], items: 1 }), undefined);
    assert.equal(predictCompletionMs({ slots: 1, queues: [{ ...cold, queued: 40 }], runningRemainingMs: 0, stages: [stage], items: 1 }), 100);
  });

  it('items not ready yet (images being preprocessed) finish after the later of their readiness and the work ahead', () => {
    const queues = [{ ...stage, queued: 8 }]; // 200 ms ahead
    assert.equal(predictCompletionMs({ slots: 1, queues, runningRemainingMs: 0, stages: [stage], items: 1, readyInMs: 50 }), 300);
    assert.equal(predictCompletionMs({ slots: 1, queues, runningRemainingMs: 0, stages: [stage], items: 1, readyInMs: 500 }), 600);
    const cold = { maxBatch: 4, batchMs: 0 };
    assert.equal(predictCompletionMs({ slots: 1, queues: [], runningRemainingMs: 0, stages: [cold], items: 1, readyInMs: 500 }), 500, 'readiness alone when the stages are unmeasured');
  });
});

describe('the Dispatcher\'s prediction from measured batches', () => {
  it('the estimate follows the measured batch times (moving average)', async () => {
    const { dispatcher, g, measure } = setup();
    assert.equal(g.stageCost().batchMs, 0);
    await measure(100);
    assert.equal(g.stageCost().batchMs, 100);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 1), 100);
    await measure(200);
    assert.equal(g.stageCost().batchMs, 120);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 5), 240, 'two batches of its own');
  });

  it('a batch staged behind the running one counts whole until it runs', async () => {
    const { clock, dispatcher, g, runner, submit, measure } = setup({ staging: 1, maxBatch: 4 });
    await measure(100);
    const running = submit(1);
    const staged = submit(4); // a full batch: handed over at once, behind the running one
    assert.equal(runner.pending.length, 2);
    assert.equal(g.depth, 0);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 1), 300);
    clock.advance(60);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 1), 240, 'the running batch has 40 ms left, the staged one all 100');
    await runner.finishOldest(); // 60 ms of worker time: the average becomes 0.8 * 100 + 0.2 * 60 = 92
    clock.advance(10);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 1), 90 + 92, 'the staged batch runs since 10 ms');
    await runner.finishOldest();
    await Promise.all([running, staged]);
  });
});
