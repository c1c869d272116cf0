/**
 * Admission by predicted wait: how long until a new request's items would be done, from the
 * work already queued ahead of it on the shared worker slots. A request whose predicted
 * completion lies past its deadline is refused at once (429) instead of being queued, run late
 * and answered 504: under overload the queue then holds only work that can still finish in time.
 *
 * The model is deliberately coarse and cheap (O(batchers + slots), never O(queue)):
 * every queue counts as ceil(items / max batch) batches of its graph's measured batch time (the
 * worker's own time per batch, a moving average), the batches already handed to the workers
 * count their expected remaining time, and all of it is shared by the worker slots; the
 * request's own stages (vq_encoder then semantic_encoder for an image embedding) add their
 * batches. A graph whose batch time was never measured counts as free: at cold start
 * everything is admitted, and the 504 at the deadline remains the backstop.
 */

/** What one graph's batches cost. */
export interface StageCost {
  readonly maxBatch: number;
  /** Measured worker time of one batch, ms; 0 while unmeasured. */
  readonly batchMs: number;
}

/** One batcher's backlog. */
export interface QueueLoad extends StageCost {
  /** Items waiting (not yet in a batch). */
  readonly queued: number;
}

export interface WaitInputs {
  /** Batches that can run at once (worker slots shared by every batcher). */
  readonly slots: number;
  /** Every batcher sharing the slots, including the request's own. */
  readonly queues: readonly QueueLoad[];
  /** Expected time left of the batches handed to the workers (running or staged), summed. */
  readonly runningRemainingMs: number;
  /** The request's stages in order (its items go through each). */
  readonly stages: readonly StageCost[];
  /** Items of the request. */
  readonly items: number;
  /** Time until the items can enter their first stage (image preprocessing), ms. */
  readonly readyInMs?: number;
}

function batchesOf(items: number, maxBatch: number): number {
  return Math.ceil(items / maxBatch);
}

/**
 * Predicted time from now until the request's last stage is done, ms; undefined while one of
 * its own stages has no measured batch time and nothing else is known (admit).
 *
 * Items that are not ready yet (images being preprocessed) enter their first stage after
 * `readyInMs`, while the work ahead drains in parallel: they finish after the later of the two.
 */
export function predictCompletionMs(inputs: WaitInputs): number | undefined {
  const readyInMs = inputs.readyInMs ?? 0;
  if (inputs.stages.some((s) => s.batchMs <= 0)) return readyInMs > 0 ? readyInMs : undefined;
  let aheadMs = inputs.runningRemainingMs;
  for (const q of inputs.queues) aheadMs += batchesOf(q.queued, q.maxBatch) * q.batchMs;
  let ownMs = 0;
  let ownCriticalMs = 0;
  for (const s of inputs.stages) {
    ownMs += batchesOf(inputs.items, s.maxBatch) * s.batchMs;
    ownCriticalMs += s.batchMs;
  }
  // Shared by the slots, but a request's stages run one after the other: at least one batch each.
  return Math.max((aheadMs + ownMs) / inputs.slots, readyInMs + ownCriticalMs);
}

/**
 * Retry-After for a refusal, seconds: the excess of the predicted completion over the time
 * left; after that long the work ahead (absent new arrivals) has drained enough to fit.
 */
export function retryAfterForExcess(predictedMs: number, remainingMs: number): number {
  return Math.max(1, Math.ceil((predictedMs - Math.max(0, remainingMs)) / 1000));
}
