/**
 * How many inference workers, and how many ONNX Runtime intra-op threads each, when the
 * configuration leaves it to the service (TOKLIP_WORKERS=0, the default).
 *
 * Small graphs (the shipped model: 16 MiB) split poorly across threads: every operator is a
 * few microseconds of work, and each parallel section costs a thread wake-up and a join, so
 * one single-threaded worker per core keeps the cores busier, and while one worker's results
 * are collected, answered and replaced by the main thread, the others compute. Measured on 2
 * cores over HTTP: 2 workers x 1 thread beat 1 x 2 by 20-45 % (docs/benchmarks.md, "Tuning").
 * Large graphs (full-size bundles, GBs) parallelise well inside each GEMM, and every worker
 * holds its own copy of the weights: one worker with every core.
 */

/** Served graphs up to this size (all models together) count as small. */
export const SMALL_GRAPHS_BYTES = 256 * 1024 * 1024;
/** At most this many workers in the automatic layout (each holds every session). */
export const MAX_AUTO_WORKERS = 4;

export interface WorkerLayout {
  readonly workers: number;
  readonly intraOpThreads: number;
  /** Why, for the start-up log. */
  readonly reason: string;
}

/**
 * @param workers         TOKLIP_WORKERS (0: automatic)
 * @param intraOpThreads  TOKLIP_INTRA_OP_THREADS (0: CPU cores / workers)
 * @param cpuCount        cores available to the process
 * @param graphBytes      total size of the .onnx files of every served model
 */
export function chooseWorkerLayout(workers: number, intraOpThreads: number, cpuCount: number, graphBytes: number): WorkerLayout {
  const cores = Math.max(1, cpuCount);
  const threadsFor = (n: number) => (intraOpThreads > 0 ? intraOpThreads : Math.max(1, Math.floor(cores / n)));
  if (workers > 0) return { workers, intraOpThreads: threadsFor(workers), reason: 'TOKLIP_WORKERS' };
  const mib = (graphBytes / 2 ** 20).toFixed(0);
  if (graphBytes > SMALL_GRAPHS_BYTES) {
    return { workers: 1, intraOpThreads: threadsFor(1), reason: `automatic: ${mib} MiB of graphs, one worker with every core` };
  }
  const count = Math.max(1, Math.min(MAX_AUTO_WORKERS, intraOpThreads > 0 ? Math.floor(cores / intraOpThreads) : cores));
  return { workers: count, intraOpThreads: threadsFor(count), reason: `automatic: ${mib} MiB of graphs, small enough for one worker per core` };
}
