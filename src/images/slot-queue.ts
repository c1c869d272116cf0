/**
 * FIFO slots in front of the worker pool: at most `capacity` images inside piscina, the rest
 * wait here, where an AbortSignal (client gone, deadline passed) removes them without touching
 * a worker. piscina itself can only abort a running task by terminating its worker. A
 * request's images wait as one group: one abort listener for all of them, however many.
 */
interface Waiter {
  readonly admit: () => void;
  readonly refuse: (reason: unknown) => void;
}

export class SlotQueue {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];
  private closedReason: unknown;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  get running(): number {
    return this.inFlight;
  }

  /**
   * A slot for each of `count` tasks, in order: each promise resolves when its task holds a
   * slot, or rejects with the signal's reason if the signal fires while it waits.
   */
  acquireAll(count: number, signal?: AbortSignal): Promise<void>[] {
    if (this.closedReason !== undefined) return Array.from({ length: count }, () => Promise.reject(this.closedReason));
    if (signal?.aborted) return Array.from({ length: count }, () => Promise.reject(signal.reason));
    const group = new Set<Waiter>();
    const onAbort = () => {
      for (const waiter of group) {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        waiter.refuse(signal!.reason);
      }
    };
    const settled = (waiter: Waiter) => {
      group.delete(waiter);
      if (group.size === 0) signal?.removeEventListener('abort', onAbort);
    };
    const slots = Array.from({ length: count }, () => {
      if (this.inFlight < this.capacity) {
        this.inFlight++;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          admit: () => {
            settled(waiter);
            resolve();
          },
          refuse: (reason) => {
            settled(waiter);
            reject(reason);
          },
        };
        group.add(waiter);
        this.waiting.push(waiter);
      });
    });
    if (group.size > 0) signal?.addEventListener('abort', onAbort, { once: true });
    return slots;
  }

  /** One slot (acquireAll of one). */
  acquire(signal?: AbortSignal): Promise<void> {
    return this.acquireAll(1, signal)[0]!;
  }

  /** Hands the slot to the next waiter, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next.admit();
    else this.inFlight--;
  }

  /** Refuses every waiter and all later requests with `reason`. */
  close(reason: unknown): void {
    this.closedReason = reason;
    for (const waiter of this.waiting.splice(0)) waiter.refuse(reason);
  }
}
