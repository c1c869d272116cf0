/**
 * FIFO admission in front of the worker pool: at most `capacity` images inside piscina, the rest
 * wait here, where an AbortSignal (client gone, deadline passed) removes them without touching
 * a worker. piscina itself can only abort a running task by terminating its worker.
 */
interface Waiter {
  readonly admit: () => void;
  readonly refuse: (reason: unknown) => void;
}

export class Admission {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];
  private closedReason: unknown;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Images waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  get running(): number {
    return this.inFlight;
  }

  /** Resolves when a slot is held; rejects with the signal's reason if aborted while waiting. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.closedReason !== undefined) return Promise.reject(this.closedReason);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.inFlight < this.capacity) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        admit: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        refuse: (reason) => {
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
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
