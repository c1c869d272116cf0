/**
 * Logs a recurring failure at most once per interval: the first at once, later ones folded into
 * the next line with their count, so that a Redis that is down for an hour writes one warning
 * per interval instead of one per request.
 */
import type { Logger } from 'pino';

export class FailureLog {
  private lastLogged = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  report(reason: string, error?: unknown): void {
    const now = this.now();
    if (now - this.lastLogged < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.log.warn(
      { reason, err: error, failuresSinceLastLine: this.suppressed, intervalMs: this.intervalMs },
      this.message,
    );
    this.lastLogged = now;
    this.suppressed = 0;
  }
}
