/** A Clock whose time moves only when a test calls advance(). */
import type { Clock } from '../../src/scheduling/clock.js';

interface Timer {
  at: number;
  callback: () => void;
  id: number;
}

export class FakeClock implements Clock {
  private time = 0;
  private timers: Timer[] = [];
  private nextId = 1;

  now(): number {
    return this.time;
  }

  setTimer(callback: () => void, delayMs: number): unknown {
    const timer = { at: this.time + Math.max(0, delayMs), callback, id: this.nextId++ };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimer(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = target;
  }

  pendingTimers(): number {
    return this.timers.length;
  }
}
