/**
 * A dynamic batcher for one (model, graph): a FIFO of items (one image, token row or text each)
 * from many requests. The Dispatcher asks it when a batch is ready and takes one; the batcher
 * runs it through its runner and hands each request its outputs in input order.
 *
 * - Whether a request may enter is not decided here: the engine's admission controller
 *   (src/engine/admission.ts) reads load() and the queue limit before submit().
 * - A request's items may land in different batches; it settles when all have results.
 * - Only items with the same shape key (e.g. the token count of a prefix) share a batch.
 * - Items of a request whose signal fired (its deadline passed, its client went away) are
 *   dropped before inference; a running batch is never interrupted (its late results are
 *   discarded).
 */
import { ServiceError, isServiceError } from '../errors.js';
import type { BatchMember, BatchTracer, QueuedRequest } from '../tracing/index.js';
import type { Clock } from './clock.js';
import type { QueueLoad, StageCost } from './wait-estimate.js';

/** What the scheduling layer needs of a request: a name for logs and the signal that ends it early. */
export interface WorkContext {
  readonly requestId: string;
  /** Fires when the request ends early; its reason (a ServiceError) is what the request gets. */
  readonly signal?: AbortSignal;
}

export interface SubmitOptions {
  /** A later stage of a request already running (e.g. semantic_encoder after vq_encoder): accepted while draining. */
  readonly continuation?: boolean;
}

export interface BatchInfo {
  readonly requestIds: readonly string[];
}

export interface RunnerResult<O> {
  readonly outputs: readonly O[];
  /** Time the worker spent on the batch. */
  readonly inferenceMs: number;
}

export type BatchRunner<I, O> = (inputs: readonly I[], info: BatchInfo) => Promise<RunnerResult<O>>;

/** What a request gets back: outputs in input order plus its timings. */
export interface StageResult<O> {
  readonly outputs: O[];
  /** Longest time one of its items waited for its batch. */
  readonly queueMs: number;
  /** Longest worker time of a batch holding one of its items. */
  readonly inferenceMs: number;
}

export interface BatcherObserver {
  queueDepth(depth: number): void;
  batchStarted(size: number, queueTimesMs: readonly number[]): void;
  batchFinished(size: number, inferenceMs: number, requestIds: readonly string[], error?: unknown): void;
  timedOut(items: number): void;
  cancelled(items: number): void;
}

export interface BatcherOptions<I, O> {
  readonly name: string;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly queueLimit: number;
  readonly clock: Clock;
  readonly runner: BatchRunner<I, O>;
  readonly observer?: BatcherObserver;
  /** Spans of each request's queue wait and of the batches it runs in (src/tracing). */
  readonly tracer?: BatchTracer;
}

interface PendingRequest<O> {
  readonly ctx: WorkContext;
  readonly outputs: O[];
  remaining: number;
  /** Items not yet in a started batch. */
  waiting: number;
  /** Its queue wait, for tracing. */
  readonly queued: QueuedRequest | undefined;
  queueMs: number;
  inferenceMs: number;
  settled: boolean;
  resolve(result: StageResult<O>): void;
  reject(error: unknown): void;
  cleanup(): void;
}

interface Entry<I, O> {
  readonly input: I;
  readonly key: string;
  readonly index: number;
  readonly enqueuedAt: number;
  readonly request: PendingRequest<O>;
}

export interface Batch<I, O> {
  readonly entries: readonly Entry<I, O>[];
}

export interface SubmitItem<I> {
  readonly input: I;
  /** Items share a batch only with items of the same key. */
  readonly key: string;
}

export class Batcher<I, O> {
  readonly name: string;
  private readonly options: BatcherOptions<I, O>;
  private queue: Entry<I, O>[] = [];
  private closed: ServiceError | undefined;
  private flushing = false;
  /** Worker time of one batch (moving average of RunnerResult.inferenceMs): the cost admission predicts with. */
  private workMsEstimate = 0;
  /** Called when items arrive (set by the Dispatcher). */
  onWork: () => void = () => {};

  constructor(options: BatcherOptions<I, O>) {
    if (options.maxBatch < 1 || options.queueLimit < 1 || options.maxDelayMs < 0) {
      throw new RangeError(`bad batcher options for ${options.name}`);
    }
    this.name = options.name;
    this.options = options;
  }

  get depth(): number {
    return this.queue.length;
  }

  /** Most items it holds waiting (TOKLIP_QUEUE_LIMIT); the admission controller keeps it. */
  get queueLimit(): number {
    return this.options.queueLimit;
  }

  /** Max batch and the worker time of one batch (moving average, ms; 0 until a batch finished). */
  stageCost(): StageCost {
    return { maxBatch: this.options.maxBatch, batchMs: this.workMsEstimate };
  }

  /** Its stage cost and the items waiting. */
  load(): QueueLoad {
    return { ...this.stageCost(), queued: this.queue.length };
  }

  /** Enqueues the items of one admitted request; resolves when every item has its output. */
  submit(items: readonly SubmitItem<I>[], ctx: WorkContext, submitOptions: SubmitOptions = {}): Promise<StageResult<O>> {
    if (this.closed && !submitOptions.continuation) return Promise.reject(this.closed);
    if (items.length === 0) return Promise.resolve({ outputs: [], queueMs: 0, inferenceMs: 0 });
    if (ctx.signal?.aborted) return Promise.reject(abortReason(ctx.signal));
    const now = this.options.clock.now();
    return new Promise<StageResult<O>>((resolve, reject) => {
      const onAbort = () => {
        const reason = abortReason(ctx.signal!);
        this.failRequest(request, reason, isServiceError(reason) && reason.code === 'deadline_exceeded' ? 'timedOut' : 'cancelled');
      };
      const request: PendingRequest<O> = {
        ctx,
        outputs: new Array<O>(items.length),
        remaining: items.length,
        waiting: items.length,
        queued: this.options.tracer?.queued(ctx.requestId, items.length),
        queueMs: 0,
        inferenceMs: 0,
        settled: false,
        resolve,
        reject,
        cleanup: () => ctx.signal?.removeEventListener('abort', onAbort),
      };
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      items.forEach((item, index) => this.queue.push({ input: item.input, key: item.key, index, enqueuedAt: now, request }));
      this.options.observer?.queueDepth(this.queue.length);
      this.onWork();
    });
  }

  /** Earliest time at which a batch should start if a worker is free; undefined when empty. */
  readyAt(): number | undefined {
    const head = this.queue[0];
    if (head === undefined) return undefined;
    return this.isFull() || this.closed || this.flushing ? head.enqueuedAt : head.enqueuedAt + this.options.maxDelayMs;
  }

  /** True when the head's key has max batch items queued: the next batch is as large as it can get. */
  isFull(): boolean {
    const head = this.queue[0];
    if (head === undefined) return false;
    let sameKey = 0;
    for (const entry of this.queue) if (entry.key === head.key && ++sameKey >= this.options.maxBatch) return true;
    return false;
  }

  /** Time the oldest item was queued (for fairness between batchers). */
  oldest(): number | undefined {
    return this.queue[0]?.enqueuedAt;
  }

  /**
   * Removes and returns the next batch: up to maxBatch items with the head's key, oldest
   * first. Items whose request already expired or failed are dropped here, never run.
   */
  take(): Batch<I, O> | undefined {
    const head = this.queue[0];
    if (head === undefined) return undefined;
    const entries: Entry<I, O>[] = [];
    const rest: Entry<I, O>[] = [];
    for (const entry of this.queue) {
      if (entry.key === head.key && entries.length < this.options.maxBatch) entries.push(entry);
      else rest.push(entry);
    }
    this.queue = rest;
    this.options.observer?.queueDepth(this.queue.length);
    return { entries };
  }

  /** Runs a batch taken by take(); never rejects (failures go to the batch's requests). */
  async execute(batch: Batch<I, O>): Promise<void> {
    const { clock, runner, observer } = this.options;
    const started = clock.now();
    const queueTimes = batch.entries.map((e) => started - e.enqueuedAt);
    batch.entries.forEach((e, i) => (e.request.queueMs = Math.max(e.request.queueMs, queueTimes[i]!)));
    const requestIds = [...new Set(batch.entries.map((e) => e.request.ctx.requestId))];
    observer?.batchStarted(batch.entries.length, queueTimes);
    const traced = this.options.tracer?.batch(batch.entries.length, this.started(batch));
    let result: RunnerResult<O>;
    try {
      result = await runner(
        batch.entries.map((e) => e.input),
        { requestIds },
      );
      if (result.outputs.length !== batch.entries.length) {
        throw new Error(`${this.name}: runner returned ${result.outputs.length} outputs for ${batch.entries.length} inputs`);
      }
    } catch (error) {
      traced?.end(error);
      observer?.batchFinished(batch.entries.length, clock.now() - started, requestIds, error);
      const failure = isServiceError(error) ? error : new ServiceError('inference_failed', `${this.name}: ${String(error)}`, { cause: error });
      for (const entry of batch.entries) this.failRequest(entry.request, failure);
      return;
    }
    // Wall time includes waiting in the worker behind the running batch (staging): the worker's own time is the cost.
    traced?.end();
    this.workMsEstimate = this.workMsEstimate === 0 ? result.inferenceMs : 0.8 * this.workMsEstimate + 0.2 * result.inferenceMs;
    observer?.batchFinished(batch.entries.length, result.inferenceMs, requestIds);
    batch.entries.forEach((entry, i) => {
      const request = entry.request;
      if (request.settled) return;
      request.outputs[entry.index] = result.outputs[i]!;
      request.inferenceMs = Math.max(request.inferenceMs, result.inferenceMs);
      if (--request.remaining === 0) {
        request.settled = true;
        request.cleanup();
        request.resolve({ outputs: request.outputs, queueMs: request.queueMs, inferenceMs: request.inferenceMs });
      }
    });
  }

  /** Drain: from now on batches start without waiting for max delay; new work is still accepted. */
  flush(): void {
    this.flushing = true;
  }

  /** Refuses new work (shutdown); queued work still runs, without waiting for max delay. */
  close(reason: ServiceError): void {
    this.closed = reason;
  }

  /** The requests of a batch about to run, with their items in it; a request whose last item starts stops waiting. */
  private started(batch: Batch<I, O>): BatchMember[] {
    const items = new Map<PendingRequest<O>, number>();
    for (const entry of batch.entries) items.set(entry.request, (items.get(entry.request) ?? 0) + 1);
    const members: BatchMember[] = [];
    for (const [request, count] of items) {
      request.waiting -= count;
      if (request.waiting === 0) request.queued?.end();
      if (request.queued !== undefined) members.push({ requestId: request.ctx.requestId, queued: request.queued, items: count });
    }
    return members;
  }

  /** Settles a request with an error and removes its queued items. */
  private failRequest(request: PendingRequest<O>, error: unknown, count?: 'timedOut' | 'cancelled'): void {
    if (request.settled) return;
    request.settled = true;
    request.cleanup();
    request.queued?.end(error);
    const before = this.queue.length;
    this.queue = this.queue.filter((e) => e.request !== request);
    const dropped = before - this.queue.length;
    if (dropped > 0) this.options.observer?.queueDepth(this.queue.length);
    if (count === 'timedOut') this.options.observer?.timedOut(dropped);
    if (count === 'cancelled') this.options.observer?.cancelled(dropped);
    request.reject(error);
  }
}

function abortReason(signal: AbortSignal): unknown {
  return isServiceError(signal.reason) ? signal.reason : new ServiceError('bad_request', 'the client closed the request');
}
