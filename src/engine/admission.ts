/**
 * The admission controller: every decision to refuse a request for lack of capacity or time is
 * made here, with one vocabulary of reasons, counted in `toklip_refusals_total{reason}`:
 *
 *   reason                   answer               when
 *   event_loop_delay         503 overloaded       the event loop is behind (load shedding, before a body is read)
 *   preprocess_queue_limit   429 queue_full       the images would not fit in the preprocessing queue
 *   queue_limit              429 queue_full       the items would not fit in a batcher queue (TOKLIP_QUEUE_LIMIT)
 *   predicted_wait           429 queue_full       the work queued ahead would not let it finish before its deadline
 *   deadline                 504 deadline_exceeded its deadline passed while it waited or ran
 *
 * A request is admitted whole or refused at once, before any work: an image request is checked
 * before its images are decoded (with their predicted preprocessing time) and again as its items
 * enter their first batcher. Deadlines have one mechanism: the request context's signal fires
 * at the deadline and every queue (image preprocessing, batchers) drops the request's waiting
 * work; the engine counts the 504 here.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ServiceError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Clock } from '../scheduling/clock.js';
import type { StageView } from '../scheduling/scheduler.js';
import type { RequestContext } from './context.js';

export const REFUSAL_REASONS = ['event_loop_delay', 'preprocess_queue_limit', 'queue_limit', 'predicted_wait', 'deadline'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** What admission reads of the batchers and the dispatcher (the Scheduler). */
export interface StageLoad {
  /** Batches that run at once. */
  readonly slots: number;
  predictCompletionMs(stages: readonly StageView[], items: number, readyInMs?: number): number | undefined;
}

/** What admission reads of the image preprocessing pool. */
export interface PreprocessLoad {
  /** Images waiting for a preprocessing thread. */
  readonly queued: number;
  /** Predicted ms until `images` more images would be preprocessed; undefined until measured. */
  predictWaitMs(images: number): number | undefined;
}

/** The event loop's recent delay, ms (mean over the last sample interval); undefined before the first sample. */
export interface EventLoopProbe {
  delayMs(): number | undefined;
  close(): void;
}

export interface AdmissionConfig {
  /** Most items waiting per batcher, and images waiting for preprocessing (TOKLIP_QUEUE_LIMIT). */
  readonly queueLimit: number;
  /** Admit when the predicted completion is within this fraction of the time left (TOKLIP_ADMISSION_WAIT_FRACTION); 0: off. */
  readonly waitFraction: number;
  /** TOKLIP_MAX_EVENT_LOOP_DELAY_MS; 0: no load shedding. */
  readonly maxEventLoopDelayMs: number;
}

export interface AdmissionDeps {
  readonly stages: StageLoad;
  readonly images: PreprocessLoad;
  readonly clock: Clock;
  readonly metrics?: Metrics;
  /** Default: a perf_hooks monitor sampled every 0.5 s (created only when load shedding is on). */
  readonly eventLoop?: EventLoopProbe;
}

const SAMPLE_INTERVAL_MS = 500;

/**
 * The mean event-loop delay of each 0.5 s interval (perf_hooks' histogram). The first two
 * samples measure start-up (schema compilation, worker threads starting), not load: ignored.
 */
export function eventLoopMonitor(): EventLoopProbe {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let samples = 0;
  let latest: number | undefined;
  const timer = setInterval(() => {
    samples++;
    latest = samples > 2 ? histogram.mean / 1e6 : undefined;
    histogram.reset();
  }, SAMPLE_INTERVAL_MS);
  timer.unref();
  return {
    delayMs: () => latest,
    close: () => {
      clearInterval(timer);
      histogram.disable();
    },
  };
}

/** Retry-After for a refusal, seconds: the excess of the predicted completion over the time allowed, at least 1. */
export function retryAfterForExcess(predictedMs: number, allowedMs: number): number {
  return Math.max(1, Math.ceil((predictedMs - Math.max(0, allowedMs)) / 1000));
}

export class AdmissionController {
  private readonly config: AdmissionConfig;
  private readonly deps: AdmissionDeps;
  private readonly eventLoop: EventLoopProbe | undefined;

  constructor(config: AdmissionConfig, deps: AdmissionDeps) {
    if (!(config.waitFraction >= 0 && config.waitFraction <= 1)) throw new RangeError(`waitFraction must be in [0, 1], got ${config.waitFraction}`);
    this.config = config;
    this.deps = deps;
    this.eventLoop = config.maxEventLoopDelayMs > 0 ? (deps.eventLoop ?? eventLoopMonitor()) : undefined;
  }

  /** 503 overloaded while the event loop is behind; front ends call it before reading a request. */
  checkEventLoop(): void {
    const delay = this.eventLoop?.delayMs();
    const max = this.config.maxEventLoopDelayMs;
    if (delay === undefined || delay <= max) return;
    throw this.refuse('event_loop_delay', undefined, new ServiceError(
      'overloaded',
      `the server is overloaded: its event loop is ${Math.round(delay)} ms behind (limit ${max} ms); retry later`,
      { retryAfterSeconds: 1 },
    ));
  }

  /** True while checkEventLoop() refuses (for operators and tests). */
  get shedding(): boolean {
    const delay = this.eventLoop?.delayMs();
    return delay !== undefined && delay > this.config.maxEventLoopDelayMs;
  }

  /**
   * An image request, before its images are decoded: they must fit in the preprocessing queue,
   * and its items in its stages, finishing before the deadline once preprocessed.
   */
  admitImages(model: string, stages: readonly StageView[], images: number, ctx: RequestContext): void {
    const { queued } = this.deps.images;
    const limit = this.config.queueLimit;
    if (queued + images > limit) {
      throw this.refuse('preprocess_queue_limit', model, new ServiceError('queue_full', `the image preprocessing queue is full (${queued} of ${limit} images waiting)`, {
        retryAfterSeconds: 1,
        extensions: { reason: 'preprocess_queue_limit' },
      }));
    }
    this.admitItems(model, stages, images, ctx, this.deps.images.predictWaitMs(images) ?? 0);
  }

  /**
   * `items` about to enter the first of `stages` (after `readyInMs`, the time their images take
   * to be preprocessed): they must fit under the queue limit and finish before the deadline.
   */
  admitItems(model: string, stages: readonly StageView[], items: number, ctx: RequestContext, readyInMs = 0): void {
    const first = stages[0];
    if (first === undefined) return;
    const { queued } = first.load();
    if (queued + items > first.queueLimit) {
      throw this.refuse('queue_limit', model, new ServiceError('queue_full', `the ${first.name} queue is full (${queued} of ${first.queueLimit} items waiting)`, {
        retryAfterSeconds: this.drainSeconds(first),
        extensions: { reason: 'queue_limit' },
      }));
    }
    const fraction = this.config.waitFraction;
    if (fraction === 0) return;
    const remainingMs = ctx.deadline - this.deps.clock.now();
    // Past its deadline already: the 504 (deadline_exceeded) comes from its signal, not a refusal.
    if (remainingMs <= 0) return;
    const predictedMs = this.deps.stages.predictCompletionMs(stages, items, readyInMs);
    const budgetMs = fraction * remainingMs;
    if (predictedMs === undefined || predictedMs <= budgetMs) return;
    const predicted = Math.ceil(predictedMs);
    const remaining = Math.floor(remainingMs);
    const budget = fraction === 1 ? `only ${remaining} ms are left` : `the limit is ${Math.floor(budgetMs)} ms (${fraction} of the ${remaining} ms left)`;
    throw this.refuse('predicted_wait', model, new ServiceError(
      'queue_full',
      `the ${first.name} queue is too long for this request's deadline: its work would be done in about ${predicted} ms` +
        `${readyInMs > 0 ? ` (its images preprocessed in about ${Math.ceil(readyInMs)} ms)` : ''}, but ${budget}`,
      {
        retryAfterSeconds: retryAfterForExcess(predictedMs, budgetMs),
        extensions: { reason: 'predicted_wait', predicted_ms: predicted, remaining_ms: remaining },
      },
    ));
  }

  /** Counts a request answered 504 because its deadline passed. */
  deadlinePassed(model: string | undefined): void {
    this.deps.metrics?.refusals.inc({ reason: 'deadline', model: model ?? '' });
  }

  close(): void {
    this.eventLoop?.close();
  }

  /** Seconds until the work queued in `stage` has drained, at least 1. */
  private drainSeconds(stage: StageView): number {
    const { queued, maxBatch, batchMs } = stage.load();
    const batchesAhead = Math.ceil(queued / maxBatch);
    return Math.max(1, Math.ceil(((batchesAhead / this.deps.stages.slots) * batchMs) / 1000));
  }

  private refuse(reason: RefusalReason, model: string | undefined, error: ServiceError): ServiceError {
    this.deps.metrics?.refusals.inc({ reason, model: model ?? '' });
    return error;
  }
}
