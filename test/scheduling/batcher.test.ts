import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { createRequestContext } from '../../src/engine/context.js';
import { Batcher, type BatcherObserver, type WorkContext } from '../../src/scheduling/batcher.js';
import { Dispatcher } from '../../src/scheduling/dispatcher.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** A runner whose batches the test finishes by hand; outputs are input * 10. */
class FakeRunner {
  readonly calls: { inputs: number[]; requestIds: readonly string[]; finish: (error?: unknown) => void }[] = [];

  readonly run = (inputs: readonly number[], info: { requestIds: readonly string[] }) =>
    new Promise<{ outputs: number[]; inferenceMs: number }>((resolve, reject) => {
      this.calls.push({
        inputs: [...inputs],
        requestIds: info.requestIds,
        finish: (error?: unknown) => (error ? reject(error) : resolve({ outputs: inputs.map((x) => x * 10), inferenceMs: 7 })),
      });
    });

  async finish(i: number, error?: unknown): Promise<void> {
    this.calls[i]!.finish(error);
    // let the batcher's continuation (and the dispatcher's next pump) run
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function recorder() {
  const events = { batches: [] as number[], timedOut: 0, cancelled: 0, depth: 0 };
  const observer: BatcherObserver = {
    queueDepth: (d) => (events.depth = d),
    batchStarted: (size) => events.batches.push(size),
    batchFinished: () => {},
    timedOut: (n) => (events.timedOut += n),
    cancelled: (n) => (events.cancelled += n),
  };
  return { events, observer };
}

function setup(opts: { maxBatch?: number; maxDelayMs?: number; queueLimit?: number; capacity?: number } = {}) {
  const clock = new FakeClock();
  const runner = new FakeRunner();
  const { events, observer } = recorder();
  const batcher = new Batcher<number, number>({
    name: 'm/g',
    maxBatch: opts.maxBatch ?? 4,
    maxDelayMs: opts.maxDelayMs ?? 10,
    queueLimit: opts.queueLimit ?? 100,
    clock,
    runner: runner.run,
    observer,
  });
  const dispatcher = new Dispatcher({ capacity: opts.capacity ?? 1, clock });
  dispatcher.add(batcher);
  let n = 0;
  /** A request's context on the test clock: its signal fires at the deadline (ms from now) or with `signal`. */
  const ctx = (extra: { deadline?: number; signal?: AbortSignal } = {}): WorkContext =>
    createRequestContext({ requestId: `r${n++}`, timeoutMs: (extra.deadline ?? 1_000) - clock.now(), ...(extra.signal ? { signal: extra.signal } : {}) }, clock);
  const submit = (inputs: number[], c: WorkContext = ctx(), key = 'k') =>
    batcher.submit(
      inputs.map((input) => ({ input, key })),
      c,
    );
  return { clock, runner, events, batcher, dispatcher, ctx, submit };
}

describe('Batcher + Dispatcher', () => {
  it('waits max delay for a batch to fill, then runs what it has', async () => {
    const { clock, runner, submit } = setup({ maxDelayMs: 10 });
    const a = submit([1]);
    clock.advance(4);
    const b = submit([2]);
    assert.equal(runner.calls.length, 0);
    clock.advance(5);
    assert.equal(runner.calls.length, 0, 'not before the oldest item waited max delay');
    clock.advance(1);
    assert.deepEqual(runner.calls[0]!.inputs, [1, 2]);
    await runner.finish(0);
    assert.deepEqual((await a).outputs, [10]);
    const rb = await b;
    assert.deepEqual(rb.outputs, [20]);
    assert.equal(rb.queueMs, 6);
    assert.equal(rb.inferenceMs, 7);
  });

  it('starts a full batch at once', () => {
    const { runner, submit } = setup({ maxBatch: 3, maxDelayMs: 1000 });
    void submit([1, 2]);
    assert.equal(runner.calls.length, 0);
    void submit([3, 4]);
    assert.deepEqual(runner.calls[0]!.inputs, [1, 2, 3]);
  });

  it('keeps accumulating while every worker is busy, up to max batch', async () => {
    const { clock, runner, submit, events } = setup({ maxBatch: 4, maxDelayMs: 0 });
    const first = submit([1]);
    assert.deepEqual(runner.calls[0]!.inputs, [1], 'a free worker takes the first item at once');
    const rest = [2, 3, 4, 5, 6, 7].map((x) => submit([x]));
    clock.advance(50);
    assert.equal(runner.calls.length, 1, 'no batch starts while the only worker is busy');
    await runner.finish(0);
    assert.deepEqual(runner.calls[1]!.inputs, [2, 3, 4, 5]);
    await runner.finish(1);
    assert.deepEqual(runner.calls[2]!.inputs, [6, 7]);
    await runner.finish(2);
    assert.deepEqual((await first).outputs, [10]);
    assert.deepEqual(
      (await Promise.all(rest)).map((r) => r.outputs[0]),
      [20, 30, 40, 50, 60, 70],
    );
    assert.deepEqual(events.batches, [1, 4, 2]);
  });

  it('splits a large request across batches and returns outputs in input order', async () => {
    const { runner, submit } = setup({ maxBatch: 2, maxDelayMs: 0, capacity: 2 });
    const p = submit([1, 2, 3, 4, 5]);
    assert.deepEqual(
      runner.calls.map((c) => c.inputs),
      [
        [1, 2],
        [3, 4],
      ],
    );
    await runner.finish(1);
    await runner.finish(0);
    assert.deepEqual(runner.calls[2]!.inputs, [5]);
    await runner.finish(2);
    assert.deepEqual((await p).outputs, [10, 20, 30, 40, 50]);
  });

  it('never mixes shape keys in one batch', async () => {
    const { runner, submit, ctx } = setup({ maxBatch: 8, maxDelayMs: 0, capacity: 1 });
    const blocker = submit([0]);
    const a = submit([1], ctx(), 'T=4');
    const b = submit([2], ctx(), 'T=8');
    const c = submit([3], ctx(), 'T=4');
    await runner.finish(0);
    assert.deepEqual(runner.calls[1]!.inputs, [1, 3]);
    await runner.finish(1);
    assert.deepEqual(runner.calls[2]!.inputs, [2]);
    await runner.finish(2);
    await Promise.all([blocker, a, b, c]);
  });

  it('reports its load for admission, and takes a later stage of a running request while draining', async () => {
    const { runner, submit, batcher, ctx } = setup({ queueLimit: 3, maxDelayMs: 0 });
    const running = submit([1]);
    const queued = [submit([2, 3]), submit([4])];
    assert.deepEqual(batcher.load(), { maxBatch: 4, batchMs: 0, queued: 3 });
    assert.equal(batcher.queueLimit, 3);
    batcher.close(new ServiceError('shutting_down', 'bye'));
    await assert.rejects(submit([5]), (e: unknown) => e instanceof ServiceError && e.code === 'shutting_down');
    const continuation = batcher.submit([{ input: 6, key: 'k' }], ctx(), { continuation: true });
    await runner.finish(0);
    await runner.finish(1);
    await Promise.all([running, ...queued, continuation]);
    assert.ok(Math.abs(batcher.load().batchMs - 7) < 1e-9, 'the measured worker time of a batch');
  });

  it('answers 504 at the deadline and drops expired work before inference', async () => {
    const { clock, runner, submit, ctx, events } = setup({ maxDelayMs: 0 });
    const busy = submit([1]);
    const late = submit([2, 3], ctx({ deadline: 20 }));
    const fine = submit([4], ctx({ deadline: 500 }));
    clock.advance(20);
    await assert.rejects(late, (e: unknown) => e instanceof ServiceError && e.status === 504);
    assert.equal(events.timedOut, 2);
    await runner.finish(0);
    assert.deepEqual(runner.calls[1]!.inputs, [4], 'expired items never reach the runner');
    await runner.finish(1);
    assert.deepEqual((await busy).outputs, [10]);
    assert.deepEqual((await fine).outputs, [40]);
  });

  it('refuses a request whose deadline already passed', async () => {
    const { clock, runner, submit, ctx } = setup();
    const late = ctx({ deadline: 50 });
    clock.advance(100);
    await assert.rejects(submit([1], late), (e: unknown) => e instanceof ServiceError && e.code === 'deadline_exceeded');
    assert.equal(runner.calls.length, 0);
  });

  it('drops the queued work of a client that went away', async () => {
    const { runner, submit, ctx, events, batcher } = setup({ maxDelayMs: 0 });
    const busy = submit([1]);
    const controller = new AbortController();
    const gone = submit([2, 3], ctx({ signal: controller.signal }));
    const stays = submit([4]);
    controller.abort();
    await assert.rejects(gone);
    assert.equal(events.cancelled, 2);
    assert.equal(batcher.depth, 1);
    await runner.finish(0);
    assert.deepEqual(runner.calls[1]!.inputs, [4]);
    await runner.finish(1);
    await Promise.all([busy, stays]);
  });

  it('a failing batch fails only its own requests', async () => {
    const { runner, submit } = setup({ maxBatch: 2, maxDelayMs: 0 });
    const a = submit([1]);
    const b = submit([2]);
    const c = submit([3]);
    const aFails = assert.rejects(a, (e: unknown) => e instanceof ServiceError && e.code === 'inference_failed');
    await runner.finish(0, new Error('ORT exploded'));
    await aFails;
    await runner.finish(1);
    assert.deepEqual((await b).outputs, [20]);
    assert.deepEqual((await c).outputs, [30]);
  });

  it('a request partly running when its deadline passes gets 504 and its late results are ignored', async () => {
    const { clock, runner, submit, ctx } = setup({ maxBatch: 1, maxDelayMs: 0 });
    const p = submit([1, 2], ctx({ deadline: 10 }));
    assert.equal(runner.calls.length, 1);
    clock.advance(10);
    await assert.rejects(p, (e: unknown) => e instanceof ServiceError && e.status === 504);
    await runner.finish(0);
    assert.equal(runner.calls.length, 1, 'the queued second item was dropped');
  });

  it('idle() resolves once queued and running work is done; close() refuses new work', async () => {
    const { runner, submit, dispatcher, batcher } = setup({ maxDelayMs: 1000 });
    const p = submit([1]);
    let idle = false;
    const done = dispatcher.idle().then(() => (idle = true));
    batcher.close(new ServiceError('shutting_down', 'bye'));
    dispatcher.pump();
    assert.equal(runner.calls.length, 1, 'a closed batcher runs its queue without waiting for max delay');
    await assert.rejects(submit([2]), (e: unknown) => e instanceof ServiceError && e.code === 'shutting_down');
    assert.equal(idle, false);
    await runner.finish(0);
    await done;
    assert.deepEqual((await p).outputs, [10]);
  });

  it('shares slots between batchers, oldest waiting item first', async () => {
    const clock = new FakeClock();
    const runner = new FakeRunner();
    const make = (name: string) =>
      new Batcher<number, number>({ name, maxBatch: 4, maxDelayMs: 0, queueLimit: 10, clock, runner: runner.run });
    const x = make('x');
    const y = make('y');
    const dispatcher = new Dispatcher({ capacity: 1, clock });
    dispatcher.add(x);
    dispatcher.add(y);
    const c = (id: string): WorkContext => ({ requestId: id });
    const p0 = x.submit([{ input: 0, key: 'k' }], c('a'));
    clock.advance(1);
    const p1 = y.submit([{ input: 1, key: 'k' }], c('b'));
    clock.advance(1);
    const p2 = x.submit([{ input: 2, key: 'k' }], c('c'));
    await runner.finish(0);
    assert.deepEqual(runner.calls[1]!.inputs, [1], 'y waited longer than x’s new item');
    await runner.finish(1);
    assert.deepEqual(runner.calls[2]!.inputs, [2]);
    assert.deepEqual(runner.calls[2]!.requestIds, ['c']);
    await runner.finish(2);
    await Promise.all([p0, p1, p2]);
  });
});
