/**
 * Dispatcher staging slots: while every worker is busy, a full batch is handed over at once
 * (the executor queues it behind the running one), a batch that could still grow waits for a
 * free worker, so staging never shrinks the batches that form under load.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Batcher, type WorkContext } from '../../src/scheduling/batcher.js';
import { Dispatcher } from '../../src/scheduling/dispatcher.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** A runner whose batches the test finishes by hand; outputs are input * 10. */
class HandRunner {
  readonly calls: { inputs: number[]; finish: () => void }[] = [];

  readonly run = (inputs: readonly number[]) =>
    new Promise<{ outputs: number[]; inferenceMs: number }>((resolve) => {
      this.calls.push({ inputs: [...inputs], finish: () => resolve({ outputs: inputs.map((x) => x * 10), inferenceMs: 1 }) });
    });

  async finish(i: number): Promise<void> {
    this.calls[i]!.finish();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function setup(opts: { capacity?: number; staging?: number; maxBatch?: number; maxDelayMs?: number } = {}) {
  const clock = new FakeClock();
  const runner = new HandRunner();
  const dispatcher = new Dispatcher({ capacity: opts.capacity ?? 1, staging: opts.staging ?? 1, clock });
  const make = (name: string) => {
    const batcher = new Batcher<number, number>({
      name,
      maxBatch: opts.maxBatch ?? 4,
      maxDelayMs: opts.maxDelayMs ?? 10,
      queueLimit: 100,
      clock,
      runner: runner.run,
    });
    dispatcher.add(batcher);
    return batcher;
  };
  let n = 0;
  const ctx = (): WorkContext => ({ requestId: `r${n++}` });
  const submit = (batcher: Batcher<number, number>, inputs: number[]) => batcher.submit(inputs.map((input) => ({ input, key: 'k' })), ctx());
  return { clock, runner, dispatcher, make, submit };
}

describe('Dispatcher staging slots', () => {
  it('hands a full batch to a busy worker at once, so it runs the moment the running batch ends', async () => {
    const { runner, dispatcher, make, submit } = setup({ maxBatch: 4 });
    const batcher = make('m/g');
    const first = submit(batcher, [1, 2, 3, 4]);
    assert.equal(runner.calls.length, 1, 'a full batch starts on the free worker');
    const second = submit(batcher, [5, 6, 7, 8]);
    assert.equal(runner.calls.length, 2, 'the next full batch is staged while the first runs');
    assert.deepEqual(runner.calls[1]!.inputs, [5, 6, 7, 8]);
    assert.equal(dispatcher.busySlots, 2);
    const third = submit(batcher, [9, 10, 11, 12]);
    assert.equal(runner.calls.length, 2, 'no more than one staged batch per worker');
    await runner.finish(0);
    assert.deepEqual((await first).outputs, [10, 20, 30, 40]);
    assert.equal(runner.calls.length, 3, 'the freed staging slot takes the waiting full batch');
    await runner.finish(1);
    await runner.finish(2);
    assert.deepEqual((await second).outputs, [50, 60, 70, 80]);
    assert.deepEqual((await third).outputs, [90, 100, 110, 120]);
    await dispatcher.idle();
  });

  it('keeps a batch that could still grow waiting until a worker is free, even past max delay', async () => {
    const { clock, runner, make, submit } = setup({ maxBatch: 4, maxDelayMs: 10 });
    const batcher = make('m/g');
    const first = submit(batcher, [1, 2, 3, 4]);
    const partial = submit(batcher, [5, 6]);
    clock.advance(50);
    assert.equal(runner.calls.length, 1, 'two of four items: not staged, it may still fill');
    const more = submit(batcher, [7]);
    assert.equal(runner.calls.length, 1);
    await runner.finish(0);
    await first;
    assert.equal(runner.calls.length, 2);
    assert.deepEqual(runner.calls[1]!.inputs, [5, 6, 7], 'it grew while the worker was busy');
    await runner.finish(1);
    assert.deepEqual((await partial).outputs, [50, 60]);
    assert.deepEqual((await more).outputs, [70]);
  });

  it('stages the full batch of whichever batcher has one, oldest first among full ones', async () => {
    const { clock, runner, make, submit } = setup({ maxBatch: 2, maxDelayMs: 10 });
    const a = make('m/a');
    const b = make('m/b');
    const running = submit(a, [1, 2]);
    const waitingA = submit(a, [3]);
    const fullB = submit(b, [4, 5]);
    assert.equal(runner.calls.length, 2);
    assert.deepEqual(runner.calls[1]!.inputs, [4, 5], "b's full batch is staged although a's item is older");
    await runner.finish(0);
    await running;
    await runner.finish(1);
    await fullB;
    assert.equal(runner.calls.length, 2, "a's single item waits out max delay on the free worker");
    clock.advance(10);
    assert.equal(runner.calls.length, 3);
    assert.deepEqual(runner.calls[2]!.inputs, [3]);
    await runner.finish(2);
    assert.deepEqual((await waitingA).outputs, [30]);
  });

  it('without staging slots, a full batch waits for the running one (the executor holds one batch per worker)', async () => {
    const { runner, make, submit } = setup({ staging: 0, maxBatch: 2 });
    const batcher = make('m/g');
    const first = submit(batcher, [1, 2]);
    const second = submit(batcher, [3, 4]);
    assert.equal(runner.calls.length, 1);
    await runner.finish(0);
    await first;
    assert.equal(runner.calls.length, 2);
    await runner.finish(1);
    await second;
  });

  it('refuses a negative or fractional number of staging slots', () => {
    const clock = new FakeClock();
    assert.throws(() => new Dispatcher({ capacity: 1, staging: -1, clock }), RangeError);
    assert.throws(() => new Dispatcher({ capacity: 1, staging: 0.5, clock }), RangeError);
  });
});
