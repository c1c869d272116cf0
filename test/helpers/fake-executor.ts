/**
 * A BatchExecutor (the scheduler's view of the worker pool) whose batches the test finishes by
 * hand, with outputs of the right shapes (zeros; ids 0). The worker time it reports (runMs) is
 * the clock's time from the call to its finish, so with a FakeClock the test decides how long
 * each batch took; nextCall() lets it await a batch reaching the "worker" instead of sleeping.
 */
import type { RunRequest, RunResult } from '../../src/inference/protocol.js';
import { type Clock, systemClock } from '../../src/scheduling/clock.js';
import type { BatchExecutor } from '../../src/scheduling/scheduler.js';

export interface PendingCall {
  readonly request: RunRequest;
  finish(): void;
  fail(error: unknown): void;
}

export class FakeExecutor implements BatchExecutor {
  readonly size: number;
  readonly provider = 'cpu';
  readonly isHealthy = true;
  readonly calls: PendingCall[] = [];
  private readonly shapes: { numTokens: number; dim: number; imageSize: number };
  private waiters: ((call: PendingCall) => void)[] = [];
  private delivered = 0;
  private readonly clock: Clock;

  constructor(shapes: { numTokens: number; dim: number; imageSize: number }, options: { size?: number; clock?: Clock } = {}) {
    this.shapes = shapes;
    this.size = options.size ?? 1;
    this.clock = options.clock ?? systemClock;
  }

  run(request: RunRequest): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const started = this.clock.now();
      const call: PendingCall = {
        request,
        finish: () => resolve({ outputs: this.outputs(request), runMs: this.clock.now() - started }),
        fail: reject,
      };
      this.calls.push(call);
      this.waiters.shift()?.(call);
    });
  }

  /** The next batch to reach the executor, in order: at once if it already arrived. */
  nextCall(): Promise<PendingCall> {
    const index = this.delivered++;
    const arrived = this.calls[index];
    if (arrived !== undefined) return Promise.resolve(arrived);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {}

  private outputs(request: RunRequest): RunResult['outputs'] {
    const { numTokens, dim, imageSize } = this.shapes;
    const n = request.batch;
    switch (request.graph) {
      case 'vq_encoder':
        return { ids: { data: new Uint32Array(n * numTokens), dims: [n, numTokens] } };
      case 'semantic_encoder': {
        const rowLength = request.input.kind === 'ids' ? request.input.rowLength : numTokens;
        return {
          embedding: { data: new Float32Array(n * dim), dims: [n, dim] },
          features: { data: new Float32Array(n * rowLength * dim), dims: [n, rowLength, dim] },
        };
      }
      case 'text_encoder':
        return { embedding: { data: new Float32Array(n * dim), dims: [n, dim] } };
      case 'vq_decoder':
        return { pixels: { data: new Uint8Array(n * imageSize * imageSize * 3), dims: [n, imageSize, imageSize, 3] } };
    }
  }
}
