/**
 * Scheduling priority of the service's compute threads. On Linux nice is per thread, and a
 * thread's children inherit it: a worker that lowers its own priority before it creates its
 * ONNX Runtime sessions (or before libvips starts its threads) lowers theirs too. The event
 * loop keeps the default priority, so that when the cores are saturated (every worker busy)
 * it still gets one as soon as a request or a result arrives, instead of waiting out the
 * compute threads' time slices: that wait is most of the event-loop lag under load.
 */
import { getPriority, setPriority } from 'node:os';

/**
 * Adds `by` to the calling thread's niceness (at most 19). Returns the new niceness, or
 * undefined when nothing changed: `by` is 0, the platform is not Linux (elsewhere
 * setpriority(0) would lower the whole process, event loop included), or the call failed.
 */
export function lowerThreadPriority(by: number): number | undefined {
  if (!(by > 0) || process.platform !== 'linux') return undefined;
  try {
    const target = Math.min(19, getPriority() + by);
    setPriority(target);
    return target;
  } catch {
    return undefined;
  }
}
