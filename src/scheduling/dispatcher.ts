/**
 * The Dispatcher shares the worker slots between all batchers. When a slot is free it starts
 * the ready batch whose oldest item waited longest; a batch is ready when it is full or its
 * oldest item has waited max delay. While every slot is busy nothing starts, so queues keep
 * filling up to max batch: under load, batches grow by themselves.
 *
 * Staging slots (the executor queues a worker's next batch behind the running one) take full
 * batches only: a full batch cannot grow by waiting, so handing it over early costs nothing
 * and the worker starts it the moment the running batch ends, without waiting for the main
 * thread. A batch that could still grow waits for a free slot as before.
 *
 * It also predicts, for the admission controller (src/engine/admission.ts), when a new
 * request's work would be done: it alone sees every queue sharing the workers and the batches
 * handed to them (wait-estimate.ts).
 */
import type { Batcher } from './batcher.js';
import type { Clock } from './clock.js';
import { type StageCost, predictCompletionMs } from './wait-estimate.js';

interface HandedOver {
  /** The batch's graph's measured worker time per batch when it was handed over. */
  readonly expectedMs: number;
  /** When it began to run; undefined while staged behind a running batch. */
  runningSince: number | undefined;
}

// Batchers of different input and output types share the slots.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyBatcher = Batcher<any, any>;

export class Dispatcher {
  private readonly batchers: AnyBatcher[] = [];
  private readonly capacity: number;
  private readonly staging: number;
  private readonly clock: Clock;
  private inFlight = 0;
  /** Batches handed to the executor, oldest first: the first `capacity` run, the rest are staged. */
  private readonly handedOver = new Set<HandedOver>();
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  private idleWaiters: (() => void)[] = [];

  /**
   * @param capacity  batches that run at once (workers)
   * @param staging   further full batches the executor accepts queued behind running ones
   */
  constructor(options: { capacity: number; staging?: number; clock: Clock }) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    const staging = options.staging ?? 0;
    if (!Number.isInteger(staging) || staging < 0) throw new RangeError('staging must be a non-negative integer');
    this.capacity = options.capacity;
    this.staging = staging;
    this.clock = options.clock;
  }

  add(batcher: AnyBatcher): void {
    this.batchers.push(batcher);
    batcher.onWork = () => this.pump();
  }

  /** Predicted ms from now until `items` new items, ready in `readyInMs`, have gone through `stages`; undefined at cold start. */
  predictCompletionMs(stages: readonly StageCost[], items: number, readyInMs = 0): number | undefined {
    const now = this.clock.now();
    let runningRemainingMs = 0;
    for (const batch of this.handedOver) {
      // A staged batch has not started: it counts whole.
      runningRemainingMs += batch.runningSince === undefined ? batch.expectedMs : Math.max(0, batch.expectedMs - (now - batch.runningSince));
    }
    return predictCompletionMs({ slots: this.capacity, queues: this.batchers.map((b) => b.load()), runningRemainingMs, stages, items, readyInMs });
  }

  get busySlots(): number {
    return this.inFlight;
  }

  /** Starts every batch that is ready and has a free slot, then arms a timer for the next one. */
  pump(): void {
    while (this.inFlight < this.capacity + this.staging) {
      const now = this.clock.now();
      const next = this.nextReady(now, this.inFlight >= this.capacity);
      if (next === undefined) break;
      const batch = next.take();
      if (batch === undefined) continue;
      this.inFlight++;
      const handedOver: HandedOver = { expectedMs: next.stageCost().batchMs, runningSince: this.inFlight <= this.capacity ? now : undefined };
      this.handedOver.add(handedOver);
      void next.execute(batch).finally(() => {
        this.inFlight--;
        this.handedOver.delete(handedOver);
        this.markRunning();
        this.pump();
      });
    }
    this.armTimer();
    this.notifyIdle();
  }

  /** Each worker takes its batches in order: when one ends, the oldest staged batch starts. */
  private markRunning(): void {
    let position = 0;
    const now = this.clock.now();
    for (const batch of this.handedOver) {
      if (position++ >= this.capacity) break;
      batch.runningSince ??= now;
    }
  }

  /** Resolves when no batch runs and every queue is empty. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.inFlight === 0 && this.batchers.every((b) => b.depth === 0);
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** The ready batcher whose oldest item waited longest (among full ones only, for a staging slot). */
  private nextReady(now: number, fullOnly: boolean): AnyBatcher | undefined {
    let best: AnyBatcher | undefined;
    let bestOldest = Number.POSITIVE_INFINITY;
    for (const batcher of this.batchers) {
      const readyAt = batcher.readyAt();
      if (readyAt === undefined || readyAt > now) continue;
      if (fullOnly && !batcher.isFull()) continue;
      const oldest = batcher.oldest()!;
      if (oldest < bestOldest) {
        best = batcher;
        bestOldest = oldest;
      }
    }
    return best;
  }

  private armTimer(): void {
    let earliest = Number.POSITIVE_INFINITY;
    if (this.inFlight < this.capacity) {
      for (const batcher of this.batchers) earliest = Math.min(earliest, batcher.readyAt() ?? Number.POSITIVE_INFINITY);
    }
    if (earliest === this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = earliest;
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.pump();
    }, earliest - this.clock.now());
  }
}
