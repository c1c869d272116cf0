/** A batch runner for scheduling tests: batches wait until the test finishes them; outputs are the inputs; the worker time is the clock's time since the call. */
import assert from 'node:assert/strict';
import type { FakeClock } from './fake-clock.js';

export class ManualRunner {
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
