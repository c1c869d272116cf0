/**
 * Faults injected into real inference workers from outside production code: the pool is given
 * a test worker entry (fault-worker.mjs) that runs the production worker runtime with a session
 * factory wrapping ONNX Runtime's sessions. The test flips flags in shared memory; the next
 * batch a worker runs reads them.
 */
import { GRAPH_NAMES, type GraphName } from '../../src/models/manifest.js';

const CRASH = 0;

export class WorkerFaults {
  readonly buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (1 + GRAPH_NAMES.length));
  private readonly flags = new Int32Array(this.buffer);

  /** The worker that runs the next batch exits in the middle of it, as a crashed worker would. */
  crashNextRun(): void {
    Atomics.store(this.flags, CRASH, 1);
  }

  /** The next batch of `graph` fails inside ONNX Runtime (fed with one axis too many, which run() refuses). */
  failNextRun(graph: GraphName): void {
    Atomics.store(this.flags, 1 + GRAPH_NAMES.indexOf(graph), 1);
  }

  /** The pool's `entry` option. */
  get entry(): { url: URL; data: SharedArrayBuffer } {
    return { url: new URL('./fault-worker.mjs', import.meta.url), data: this.buffer };
  }
}

/** In the worker: takes a fault flag once (true if it was set). */
export function takeFault(flags: Int32Array, fault: 'crash' | GraphName): boolean {
  const index = fault === 'crash' ? CRASH : 1 + GRAPH_NAMES.indexOf(fault);
  return Atomics.compareExchange(flags, index, 1, 0) === 1;
}
