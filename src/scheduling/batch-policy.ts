/** TOKLIP_MAX_BATCH=0: the largest batch the scheduler forms, chosen from the served graphs and the provider. */
import { SMALL_GRAPHS_BYTES } from '../inference/layout.js';

/** Automatic TOKLIP_MAX_BATCH: the default, and the one for large graphs on CPU. */
export const AUTO_MAX_BATCH = 16;
export const AUTO_MAX_BATCH_LARGE_CPU = 8;

/**
 * TOKLIP_MAX_BATCH=0 (the default). Full-size graphs on CPU gain nothing per item beyond a
 * batch of 8 and lose about 20 % at 16 (a vq_encoder activation at 256 px is already 268 MB
 * at batch 8: the runs become memory-bound), while latency grows with the batch; small graphs
 * and GPUs keep gaining up to 16 (docs/benchmarks.md, sections 1 and "Tuning").
 */
export function chooseMaxBatch(maxBatch: number, provider: 'cpu' | 'cuda', graphBytes: number): number {
  if (maxBatch > 0) return maxBatch;
  return provider === 'cpu' && graphBytes > SMALL_GRAPHS_BYTES ? AUTO_MAX_BATCH_LARGE_CPU : AUTO_MAX_BATCH;
}
