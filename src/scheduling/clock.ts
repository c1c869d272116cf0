/** Time source of the scheduler, injected so that tests drive it by hand (no sleeps). */
export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  setTimer(callback: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (callback, delayMs) => {
    const timer = setTimeout(callback, Math.max(0, delayMs));
    // Timers only serve queued work, which keeps the process alive through its sockets anyway.
    timer.unref();
    return timer;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
