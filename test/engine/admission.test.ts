/**
 * The admission controller (src/engine/admission.ts): one test per decision, each with the
 * refusal it answers and the `toklip_refusals_total{reason}` label it increments, then the
 * predicted-wait rules on real batchers and a dispatcher driven by a fake clock (no sleeps: the
 * test advances the clock and finishes each batch by hand).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionController, REFUSAL_REASONS, type EventLoopProbe, type PreprocessLoad, type RefusalReason, retryAfterForExcess } from '../../src/engine/admission.js';
import { createRequestContext } from '../../src/engine/context.js';
import { ServiceError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { loadRegistry } from '../../src/models/registry.js';
import { Batcher } from '../../src/scheduling/batcher.js';
import { Dispatcher } from '../../src/scheduling/dispatcher.js';
import type { StageView } from '../../src/scheduling/scheduler.js';
import { buildTestEngine } from '../helpers/engine.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeExecutor } from '../helpers/fake-executor.js';
import { ManualRunner } from '../helpers/manual-runner.js';
import { FIXTURE_BUNDLES_DIR, TINY, TINY_MODEL } from '../helpers/golden.js';

interface SetupOptions {
  capacity?: number;
  staging?: number;
  graphs?: string[];
  maxBatch?: number;
  queueLimit?: number;
  waitFraction?: number;
  maxEventLoopDelayMs?: number;
  eventLoop?: EventLoopProbe;
  images?: PreprocessLoad;
}

function setup(opts: SetupOptions = {}) {
  const clock = new FakeClock();
  const runner = new ManualRunner(clock);
  const metrics = createMetrics({ defaultMetrics: false });
  const capacity = opts.capacity ?? 1;
  const dispatcher = new Dispatcher({ capacity, staging: opts.staging ?? 0, clock });
  const batchers = new Map<string, Batcher<number, number>>();
  for (const name of opts.graphs ?? ['g']) {
    const batcher = new Batcher<number, number>({ name, maxBatch: opts.maxBatch ?? 4, maxDelayMs: 0, queueLimit: opts.queueLimit ?? 100, clock, runner: runner.run });
    dispatcher.add(batcher);
    batchers.set(name, batcher);
  }
  const admission = new AdmissionController(
    { queueLimit: opts.queueLimit ?? 100, waitFraction: opts.waitFraction ?? 1, maxEventLoopDelayMs: opts.maxEventLoopDelayMs ?? 0 },
    {
      stages: { slots: capacity, predictCompletionMs: (stages, items, readyInMs) => dispatcher.predictCompletionMs(stages.map((s) => s.stageCost()), items, readyInMs) },
      images: opts.images ?? { queued: 0, predictWaitMs: () => undefined },
      clock,
      metrics,
      ...(opts.eventLoop ? { eventLoop: opts.eventLoop } : {}),
    },
  );
  let n = 0;
  /** A request context whose deadline is `remainingMs` from now. */
  const ctx = (remainingMs: number) => createRequestContext({ requestId: `r${n++}`, timeoutMs: remainingMs }, clock);
  /** Admits `items` into `graph` (and its later stages) for a request with `remainingMs` left, then queues them. */
  const submit = (graph: string, items: number, remainingMs: number, later: string[] = []) => {
    const c = ctx(remainingMs);
    const stages: StageView[] = [graph, ...later].map((g) => batchers.get(g)!);
    try {
      admission.admitItems('m', stages, items, c);
    } catch (error) {
      return Promise.reject(error);
    }
    return batchers.get(graph)!.submit(Array.from({ length: items }, (_, i) => ({ input: i, key: 'k' })), c);
  };
  /** Runs one batch of `graph` that takes `ms` on the clock (the only slot must be free). */
  const measure = async (graph: string, ms: number) => {
    const done = submit(graph, 1, 1_000_000);
    clock.advance(ms);
    await runner.finishOldest();
    await done;
  };
  const refusals = async (reason: RefusalReason) =>
    Number(new RegExp(`toklip_refusals_total\\{reason="${reason}",model="[^"]*"\\} (\\d+)`).exec(await metrics.registry.metrics())?.[1] ?? 0);
  return { clock, runner, dispatcher, batchers, admission, metrics, ctx, submit, measure, refusals };
}

function refusedWith(code: string, status: number, reason?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof ServiceError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.status, status);
    if (reason !== undefined) assert.equal(e.extensions.reason, reason);
    return true;
  };
}

const isPredictedWaitRefusal = refusedWith('queue_full', 429, 'predicted_wait');

describe('admission controller: one decision per reason, each counted', () => {
  it('has one vocabulary of reasons', () => {
    assert.deepEqual([...REFUSAL_REASONS].sort(), ['deadline', 'event_loop_delay', 'predicted_wait', 'preprocess_queue_limit', 'queue_limit']);
  });

  it('event_loop_delay: 503 overloaded with Retry-After while the event loop is behind the limit', async () => {
    let delay: number | undefined;
    const { admission, refusals } = setup({ maxEventLoopDelayMs: 20, eventLoop: { delayMs: () => delay, close: () => {} } });
    assert.doesNotThrow(() => admission.checkEventLoop(), 'no sample yet');
    delay = 20;
    assert.doesNotThrow(() => admission.checkEventLoop(), 'at the limit');
    delay = 35.4;
    assert.equal(admission.shedding, true);
    assert.throws(() => admission.checkEventLoop(), (e: unknown) => {
      refusedWith('overloaded', 503)(e);
      assert.equal((e as ServiceError).retryAfterSeconds, 1);
      assert.match((e as ServiceError).message, /event loop is 35 ms behind \(limit 20 ms\)/);
      return true;
    });
    assert.equal(await refusals('event_loop_delay'), 1);
  });

  it('preprocess_queue_limit: 429 when the images would not fit in the preprocessing queue, before any is decoded', async () => {
    const { admission, batchers, ctx, refusals } = setup({ queueLimit: 8, images: { queued: 6, predictWaitMs: () => undefined } });
    const stages = [batchers.get('g')!];
    assert.doesNotThrow(() => admission.admitImages('m', stages, 2, ctx(1000)));
    assert.throws(() => admission.admitImages('m', stages, 3, ctx(1000)), (e: unknown) => {
      refusedWith('queue_full', 429, 'preprocess_queue_limit')(e);
      assert.match((e as ServiceError).message, /the image preprocessing queue is full \(6 of 8 images waiting\)/);
      return true;
    });
    assert.equal(await refusals('preprocess_queue_limit'), 1);
  });

  it('queue_limit: 429 with Retry-After when the items would not fit in the batcher queue; nothing is queued', async () => {
    const { submit, batchers, runner, refusals } = setup({ queueLimit: 3 });
    const running = submit('g', 1, 1_000_000);
    const queued = [submit('g', 2, 1_000_000), submit('g', 1, 1_000_000)];
    await assert.rejects(submit('g', 1, 1_000_000), (e: unknown) => {
      refusedWith('queue_full', 429, 'queue_limit')(e);
      assert.ok((e as ServiceError).retryAfterSeconds! >= 1);
      assert.match((e as ServiceError).message, /the g queue is full \(3 of 3 items waiting\)/);
      return true;
    });
    assert.equal(batchers.get('g')!.depth, 3);
    assert.equal(await refusals('queue_limit'), 1);
    await runner.finishOldest();
    await runner.finishOldest();
    await Promise.all([running, ...queued]);
  });

  it('predicted_wait: 429 when the work ahead would finish past the deadline, admits when it fits', async () => {
    const { clock, batchers, runner, submit, measure, refusals } = setup({ maxBatch: 4 });
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
    // 60 ms later the running batch has 40 ms left: 40 + 200 (5 queued, 1 more: 2 batches) + 100 own
    clock.advance(60);
    await assert.rejects(submit('g', 1, 339), isPredictedWaitRefusal);
    assert.equal(await refusals('predicted_wait'), 2);
    for (let i = 0; i < 3; i++) await runner.finishOldest();
    await Promise.all([running, queued, fits]);
  });

  it('deadline: a request still working at its deadline is answered 504 and counted, its queued work dropped', async () => {
    const clock = new FakeClock();
    const registry = await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false, defaultModel: TINY_MODEL });
    const executor = new FakeExecutor({ numTokens: TINY.numTokens, dim: TINY.dim, imageSize: TINY.imageSize }, { clock });
    const metrics = createMetrics({ defaultMetrics: false });
    const config = { maxBatch: 1, maxDelayMs: 0, queueLimit: 100, admissionWaitFraction: 0, maxEventLoopDelayMs: 0 };
    const images = { queued: 0, running: 0, threads: 1, limits: { maxInputPixels: 1, maxInputBytes: 1 }, predictWaitMs: () => undefined } as never;
    const { engine } = buildTestEngine({ config, registry, executor, images, clock, metrics });
    const rows = [Array.from({ length: TINY.numTokens }, (_, i) => i % TINY.codebookSize)];
    const busy = engine.encodeTokens({ rows }, createRequestContext({ requestId: 'busy', timeoutMs: 1_000_000 }, clock));
    const running = await executor.nextCall();
    const late = engine.encodeTokens({ rows }, createRequestContext({ requestId: 'late', timeoutMs: 50 }, clock));
    clock.advance(50);
    await assert.rejects(late, refusedWith('deadline_exceeded', 504));
    assert.match(await metrics.registry.metrics(), /toklip_refusals_total\{reason="deadline",model="tiny-64"\} 1\n/);
    assert.match(await metrics.registry.metrics(), /toklip_timed_out_total\{model="tiny-64",graph="semantic_encoder"\} 1\n/);
    running.finish();
    await busy;
    assert.equal(executor.calls.length, 1, 'the late request never reached a worker');
  });
});

describe('admission by predicted wait', () => {
  it('cold start: nothing measured yet, so even a hopeless deadline is admitted (the 504 stays the backstop)', async () => {
    const { batchers, runner, submit, refusals } = setup();
    const running = submit('g', 1, 1_000_000);
    const queued = submit('g', 4, 1);
    assert.equal(batchers.get('g')!.depth, 4, 'queued, not refused');
    assert.equal(await refusals('predicted_wait'), 0);
    await runner.finishOldest();
    await runner.finishOldest();
    await Promise.all([running, queued.catch(() => {})]);
  });

  it('the admission wait fraction keeps headroom before the deadline; 0 turns the check off', async () => {
    const half = setup({ waitFraction: 0.5 });
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

    const off = setup({ waitFraction: 0 });
    await off.measure('g', 100);
    const busy = off.submit('g', 1, 1_000_000);
    const hopeless = off.submit('g', 1, 1);
    assert.equal(off.batchers.get('g')!.depth, 1, 'admitted: the 504 at the deadline is all that is left');
    assert.equal(await off.refusals('predicted_wait'), 0);
    off.clock.advance(1);
    await assert.rejects(hopeless, refusedWith('deadline_exceeded', 504));
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

  it('an image request is refused before preprocessing, counting the time until its images are ready', async () => {
    let waitMs: number | undefined;
    const { batchers, admission, ctx, measure, refusals } = setup({ images: { queued: 0, predictWaitMs: () => waitMs } });
    const stages = [batchers.get('g')!];
    assert.doesNotThrow(() => admission.admitImages('m', stages, 1, ctx(10)), 'cold start admits');
    waitMs = 11;
    assert.throws(() => admission.admitImages('m', stages, 1, ctx(10)), isPredictedWaitRefusal, 'preprocessing alone takes too long');
    waitMs = undefined;
    await measure('g', 100);
    waitMs = 50;
    assert.doesNotThrow(() => admission.admitImages('m', stages, 1, ctx(150)));
    waitMs = 51;
    assert.throws(() => admission.admitImages('m', stages, 1, ctx(150)), (e: unknown) => {
      isPredictedWaitRefusal(e);
      assert.match((e as ServiceError).message, /done in about 151 ms \(its images preprocessed in about 51 ms\), but only 150 ms are left/);
      return true;
    });
    assert.equal(await refusals('predicted_wait'), 2);
    assert.equal(batchers.get('g')!.depth, 0, 'a check queues nothing');
  });

  it('a first stage counts the batches of its later stages', async () => {
    const { runner, submit, measure } = setup({ graphs: ['vq', 'semantic'] });
    await measure('vq', 100);
    await measure('semantic', 50);
    await assert.rejects(submit('vq', 1, 149, ['semantic']), isPredictedWaitRefusal);
    const first = submit('vq', 1, 150, ['semantic']);
    await runner.finishOldest();
    await first;
  });

  it('Retry-After is the excess over the time allowed, and the same request fits after it', async () => {
    assert.equal(retryAfterForExcess(2100, 2000), 1);
    assert.equal(retryAfterForExcess(12_000, 2000), 10);
    assert.equal(retryAfterForExcess(12_001, 2000), 11);
    assert.equal(retryAfterForExcess(500, -300), 1);

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

  it('through the engine: an image embedding counts semantic_encoder after vq_encoder; tokenize alone fits the same deadline', async () => {
    const clock = new FakeClock();
    const registry = await loadRegistry(FIXTURE_BUNDLES_DIR, { verifyChecksums: false, defaultModel: TINY_MODEL });
    const executor = new FakeExecutor({ numTokens: TINY.numTokens, dim: TINY.dim, imageSize: TINY.imageSize }, { clock });
    const metrics = createMetrics({ defaultMetrics: false });
    const { scheduler, admission } = buildTestEngine({
      config: { maxBatch: 4, maxDelayMs: 0, queueLimit: 100, admissionWaitFraction: 1, maxEventLoopDelayMs: 0 },
      registry,
      executor,
      images: { queued: 0, predictWaitMs: () => undefined } as never,
      clock,
      metrics,
    });
    const model = registry.get(TINY_MODEL)!;
    const image = new Uint8Array(TINY.imageSize * TINY.imageSize * 3);
    const ctx = (id: string, remainingMs: number) => createRequestContext({ requestId: id, timeoutMs: remainingMs }, clock);
    const encodeImage = (c: ReturnType<typeof ctx>) => {
      admission.admitItems(model.id, scheduler.stages(model, ['vq_encoder', 'semantic_encoder']), 1, c);
      return scheduler.encodeImages(model, [image], false, c);
    };

    // Measure both stages: vq_encoder 100 ms, semantic_encoder 50 ms.
    const warm = encodeImage(ctx('warm', 1_000_000));
    clock.advance(100);
    (await executor.nextCall()).finish();
    const semanticCall = await executor.nextCall();
    assert.equal(semanticCall.request.graph, 'semantic_encoder');
    clock.advance(50);
    semanticCall.finish();
    await warm;

    assert.throws(() => encodeImage(ctx('two-stage', 149)), isPredictedWaitRefusal);
    const one = ctx('one-stage', 149);
    admission.admitItems(model.id, scheduler.stages(model, ['vq_encoder']), 1, one);
    const tokenized = scheduler.tokenize(model, [image], one);
    (await executor.nextCall()).finish();
    assert.equal((await tokenized).value.length, 1);
    const admitted = encodeImage(ctx('fits', 150));
    (await executor.nextCall()).finish();
    (await executor.nextCall()).finish();
    assert.equal((await admitted).value.length, 1);
    assert.match(await metrics.registry.metrics(), /toklip_refusals_total\{reason="predicted_wait",model="tiny-64"\} 1\n/);
    await scheduler.close();
  });
});
