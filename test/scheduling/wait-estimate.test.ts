/**
 * Admission by predicted wait (src/scheduling/wait-estimate.ts, Batcher.submit, Dispatcher):
 * a request whose work cannot be done before its deadline is refused at once with 429, from
 * batch times measured on a fake clock. No sleeps: the test advances the clock and finishes
 * each batch by hand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { loadRegistry } from '../../src/models/registry.js';
import { Batcher, type BatcherObserver, type RefusalReason, type RequestContext } from '../../src/scheduling/batcher.js';
import { Dispatcher } from '../../src/scheduling/dispatcher.js';
import { Scheduler } from '../../src/scheduling/scheduler.js';
import { predictCompletionMs, retryAfterForExcess } from '../../src/scheduling/wait-estimate.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { FIXTURE_BUNDLES_DIR, TINY, TINY_MODEL } from '../helpers/golden.js';
import { testLogger } from '../helpers/silent-logger.js';

/** Batches wait here until the test finishes them; outputs are the inputs; the worker time is the clock's time since the call. */
class ManualRunner {
  readonly pending: (() => void)[] = [];
  constructor(private readonly clock: FakeClock) {}
  readonly run = (inputs: readonly number[]) =>
    new Promise<{ outputs: number[]; inferenceMs: number }>((resolve) => {
      const started = this.clock.now();
      this.pending.push(() => resolve({ outputs: [...inputs], inferenceMs: this.clock.now() - started }));
    });

  /** Finishes the oldest running batch and lets the batcher and dispatcher react. */
  async finishOldest(): Promise<void> {
    const finish = this.pending.shift();
    assert.ok(finish, 'a batch is running');
    finish();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function setup(opts: { capacity?: number; staging?: number; graphs?: string[]; maxBatch?: number; admissionWaitFraction?: number } = {}) {
  const clock = new FakeClock();
  const runner = new ManualRunner(clock);
  const refusals: RefusalReason[] = [];
  const observer: BatcherObserver = {
    queueDepth: () => {},
    batchStarted: () => {},
    batchFinished: () => {},
    rejected: (reason) => refusals.push(reason),
    timedOut: () => {},
    cancelled: () => {},
  };
  const dispatcher = new Dispatcher({ capacity: opts.capacity ?? 1, staging: opts.staging ?? 0, clock });
  const batchers = new Map<string, Batcher<number, number>>();
  for (const name of opts.graphs ?? ['g']) {
    const batcher = new Batcher<number, number>({
      name,
      maxBatch: opts.maxBatch ?? 4,
      maxDelayMs: 0,
      queueLimit: 100,
      clock,
      runner: runner.run,
      observer,
      ...(opts.admissionWaitFraction === undefined ? {} : { admissionWaitFraction: opts.admissionWaitFraction }),
    });
    dispatcher.add(batcher);
    batchers.set(name, batcher);
  }
  let n = 0;
  /** A context whose deadline is `remainingMs` from now. */
  const ctx = (remainingMs: number): RequestContext => ({ requestId: `r${n++}`, deadline: clock.now() + remainingMs });
  const submit = (graph: string, items: number, remainingMs: number, options = {}) =>
    batchers.get(graph)!.submit(
      Array.from({ length: items }, (_, i) => ({ input: i, key: 'k' })),
      ctx(remainingMs),
      options,
    );
  /** Runs one batch of `graph` that takes `ms` on the clock (the only slot must be free). */
  const measure = async (graph: string, ms: number) => {
    const done = submit(graph, 1, 1_000_000);
    clock.advance(ms);
    await runner.finishOldest();
    await done;
  };
  return { clock, runner, dispatcher, batchers, refusals, submit, measure };
}

function isPredictedWaitRefusal(e: unknown): boolean {
  assert.ok(e instanceof ServiceError);
  assert.equal(e.status, 429);
  assert.equal(e.code, 'queue_full');
  assert.equal(e.extensions.reason, 'predicted_wait');
  return true;
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

  it('Retry-After is the excess over the time left, in whole seconds, at least 1', () => {
    assert.equal(retryAfterForExcess(2100, 2000), 1);
    assert.equal(retryAfterForExcess(12_000, 2000), 10);
    assert.equal(retryAfterForExcess(12_001, 2000), 11);
    assert.equal(retryAfterForExcess(500, -300), 1);
  });
});

describe('admission by predicted wait (Batcher + Dispatcher)', () => {
  it('cold start: nothing measured yet, so even a hopeless deadline is admitted (the 504 stays the backstop)', async () => {
    const { batchers, runner, refusals, submit } = setup();
    const running = submit('g', 1, 1_000_000);
    const queued = submit('g', 4, 1);
    assert.equal(batchers.get('g')!.depth, 4, 'queued, not refused');
    assert.deepEqual(refusals, []);
    await runner.finishOldest();
    await runner.finishOldest();
    await Promise.all([running, queued]);
  });

  it('the estimate follows the measured batch times (moving average)', async () => {
    const { batchers, dispatcher, measure } = setup();
    const g = batchers.get('g')!;
    assert.equal(g.stageCost().batchMs, 0);
    await measure('g', 100);
    assert.equal(g.stageCost().batchMs, 100);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 1), 100);
    await measure('g', 200);
    assert.equal(g.stageCost().batchMs, 120);
    assert.equal(dispatcher.predictCompletionMs([g.stageCost()], 5), 240, 'two batches of its own');
  });

  it('refuses with 429 when the work ahead would finish past the deadline, admits when it fits', async () => {
    const { clock, batchers, runner, refusals, submit, measure } = setup({ maxBatch: 4 });
    await measure('g', 100);
    const running = submit('g', 1, 1_000_000); // runs now, expected to end in 100 ms
    const queued = submit('g', 4, 1_000_000); // one batch ahead: 100 ms
    // running 100 + queued 100 + its own 100 = 300 ms
    await assert.rejects(submit('g', 1, 299), (e: unknown) => {
      isPredictedWaitRefusal(e);
      const error = e as ServiceError;
      assert.equal(error.retryAfterSeconds, 1);
      assert.equal(error.extensions.predicted_ms, 300);
      assert.equal(error.extensions.remaining_ms, 299);
      assert.match(error.message, /would be done in about 300 ms, but only 299 ms are left/);
      return true;
    });
    assert.equal(batchers.get('g')!.depth, 4, 'the refused request queued nothing');
    const fits = submit('g', 1, 300);
    assert.equal(batchers.get('g')!.depth, 5);
    // 60 ms later the running batch has 40 ms left: 40 + 100 (4 queued, 1 more makes 2 batches: 200) + 100 own
    clock.advance(60);
    await assert.rejects(submit('g', 1, 339), isPredictedWaitRefusal);
    assert.deepEqual(refusals, ['predicted_wait', 'predicted_wait']);
    for (let i = 0; i < 3; i++) await runner.finishOldest();
    await Promise.all([running, queued, fits]);
  });

  it('the admission wait fraction keeps headroom before the deadline; 0 turns the check off', async () => {
    const half = setup({ admissionWaitFraction: 0.5 });
    await half.measure('g', 100);
    const running = half.submit('g', 1, 1_000_000); // 100 ms left to run, then 100 ms of its own: 200 ms
    await assert.rejects(half.submit('g', 1, 399), (e: unknown) => {
      isPredictedWaitRefusal(e);
      assert.match((e as ServiceError).message, /done in about 200 ms, but the limit is 199 ms \(0\.5 of the 399 ms left\)/);
      assert.equal((e as ServiceError).retryAfterSeconds, 1);
      return true;
    });
    const fits = half.submit('g', 1, 400);
    await half.runner.finishOldest();
    await half.runner.finishOldest();
    await Promise.all([running, fits]);

    const off = setup({ admissionWaitFraction: 0 });
    await off.measure('g', 100);
    const busy = off.submit('g', 1, 1_000_000);
    const hopeless = off.submit('g', 1, 1);
    assert.equal(off.batchers.get('g')!.depth, 1, 'admitted: the 504 at the deadline is all that is left');
    assert.deepEqual(off.refusals, []);
    off.clock.advance(1);
    await assert.rejects(hopeless, (e: unknown) => e instanceof ServiceError && e.code === 'deadline_exceeded');
    await off.runner.finishOldest();
    await busy;
  });

  it('work queued in other batchers sharing the slots counts; more slots share it', async () => {
    for (const capacity of [1, 2]) {
      const { batchers, runner, submit, measure } = setup({ capacity, graphs: ['x', 'y'] });
      await measure('x', 100);
      await measure('y', 10);
      const blockers = Array.from({ length: capacity }, () => submit('x', 1, 1_000_000)); // every slot busy for 100 ms
      const queuedX = submit('x', 8, 1_000_000); // two batches of 100 ms
      // y's request: (100 per busy slot + 200 queued on x + 10 own) / slots
      const predicted = (capacity * 100 + 200 + 10) / capacity;
      await assert.rejects(submit('y', 1, predicted - 1), isPredictedWaitRefusal);
      const admitted = submit('y', 1, predicted);
      assert.equal(batchers.get('y')!.depth, 1, `capacity ${capacity}`);
      for (let i = 0; i < capacity + 3; i++) await runner.finishOldest();
      await Promise.all([...blockers, queuedX, admitted]);
    }
  });

  it('checkAdmission refuses before preparation, counting the time until the items are ready', async () => {
    const { batchers, refusals, measure } = setup();
    const g = batchers.get('g')!;
    const ctx = (remainingMs: number): RequestContext => ({ requestId: 'pre', deadline: remainingMs });
    assert.doesNotThrow(() => g.checkAdmission(1, ctx(10), [], 0), 'cold start admits');
    assert.throws(() => g.checkAdmission(1, ctx(10), [], 11), isPredictedWaitRefusal, 'preparation alone takes too long');
    await measure('g', 100); // the clock is now at 100
    assert.doesNotThrow(() => g.checkAdmission(1, ctx(100 + 150), [], 50));
    assert.throws(() => g.checkAdmission(1, ctx(100 + 150), [], 51), (e: unknown) => {
      isPredictedWaitRefusal(e);
      assert.match((e as ServiceError).message, /done in about 151 ms \(its images preprocessed in about 51 ms\), but only 150 ms are left/);
      return true;
    });
    assert.deepEqual(refusals, ['predicted_wait', 'predicted_wait']);
    assert.doesNotThrow(() => g.checkAdmission(1, ctx(100), [], 5000), 'past its deadline: left to the 504');
    assert.equal(g.depth, 0, 'a check queues nothing');
  });

  it('a batch staged behind the running one counts whole until it runs', async () => {
    const { clock, dispatcher, batchers, runner, submit, measure } = setup({ staging: 1, maxBatch: 4 });
    const g = batchers.get('g')!;
    await measure('g', 100);
    const running = submit('g', 1, 1_000_000);
    const staged = submit('g', 4, 1_000_000); // a full batch: handed over at once, behind the running one
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

  it('a first stage counts the batches of its later stages; a later stage of an admitted request is never refused', async () => {
    const { batchers, runner, submit, measure } = setup({ graphs: ['vq', 'semantic'] });
    await measure('vq', 100);
    await measure('semantic', 50);
    const semantic = batchers.get('semantic')!;
    await assert.rejects(submit('vq', 1, 149, { laterStages: [semantic] }), isPredictedWaitRefusal);
    const first = submit('vq', 1, 150, { laterStages: [semantic] });
    await runner.finishOldest();
    await first;
    const second = submit('semantic', 1, 1, { admitted: true });
    assert.equal(semantic.depth + runner.pending.length, 1, 'the later stage went in despite 1 ms left');
    await runner.finishOldest();
    await second;
  });

  it('Retry-After says when the work ahead will have drained enough, and the same request then fits', async () => {
    const { clock, batchers, runner, submit, measure } = setup({ maxBatch: 4 });
    await measure('g', 1000);
    const running = submit('g', 1, 1_000_000);
    const queued = submit('g', 40, 1_000_000); // 10 batches of 1 s
    let retryAfter = 0;
    await assert.rejects(submit('g', 1, 2000), (e: unknown) => {
      isPredictedWaitRefusal(e);
      retryAfter = (e as ServiceError).retryAfterSeconds!;
      return true;
    });
    assert.equal(retryAfter, 10, '1 s running + 10 s queued + 1 s own = 12 s for 2 s left');
    for (let i = 0; i < retryAfter; i++) {
      clock.advance(1000);
      await runner.finishOldest();
    }
    const later = submit('g', 1, 2000);
    assert.equal(batchers.get('g')!.depth, 1, 'admitted after Retry-After');
    clock.advance(1000);
    await runner.finishOldest();
    await runner.finishOldest();
    await Promise.all([running, queued, later]);
  });
});

describe('admission by predicted wait (Scheduler, two-stage encode-image)', () => {
  it('encodeImages counts semantic_encoder after vq_encoder; tokenize alone fits the same deadline; refusals are counted by reason', async () => {
    const clock = new FakeClock();
    const registry = await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false, defaultModel: TINY_MODEL });
    const model = registry.get(TINY_MODEL)!;
    const executor = new FakeExecutor({ numTokens: TINY.numTokens, dim: TINY.dim, imageSize: TINY.imageSize }, { clock });
    const metrics = createMetrics({ defaultMetrics: false });
    const scheduler = new Scheduler({ maxBatch: 4, maxDelayMs: 0, queueLimit: 100 }, registry, executor, { log: testLogger(), metrics, clock });
    const image = new Uint8Array(TINY.imageSize * TINY.imageSize * 3);
    const ctx = (id: string, remainingMs: number): RequestContext => ({ requestId: id, deadline: clock.now() + remainingMs });

    // Measure both stages: vq_encoder 100 ms, semantic_encoder 50 ms.
    const warm = scheduler.encodeImages(model, [image], false, ctx('warm', 1_000_000));
    clock.advance(100);
    (await executor.nextCall()).finish();
    const semanticCall = await executor.nextCall();
    assert.equal(semanticCall.request.graph, 'semantic_encoder');
    clock.advance(50);
    semanticCall.finish();
    await warm;

    await assert.rejects(scheduler.encodeImages(model, [image], false, ctx('two-stage', 149)), isPredictedWaitRefusal);
    const tokenized = scheduler.tokenize(model, [image], ctx('one-stage', 149));
    (await executor.nextCall()).finish();
    assert.equal((await tokenized).value.length, 1);
    const admitted = scheduler.encodeImages(model, [image], false, ctx('fits', 150));
    (await executor.nextCall()).finish();
    (await executor.nextCall()).finish();
    assert.equal((await admitted).value.length, 1);

    const text = await metrics.registry.metrics();
    assert.match(text, /toklip_rejected_total\{model="tiny-64",graph="vq_encoder",reason="predicted_wait"\} 1\n/);
    await scheduler.close();
  });
});
