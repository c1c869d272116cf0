/**
 * What the HTTP layer knows about the service's life: the scheduler once the models are
 * loaded and warmed up, and whether a shutdown began. The server listens before the models
 * are ready (so /healthz answers during a long load); API routes answer 503 until then.
 */
import { ServiceError } from '../errors.js';
import type { Scheduler } from '../scheduling/scheduler.js';

export class ServiceState {
  private current: Scheduler | undefined;
  private stopping = false;

  constructor(scheduler?: Scheduler) {
    this.current = scheduler;
  }

  get scheduler(): Scheduler | undefined {
    return this.current;
  }

  setScheduler(scheduler: Scheduler): void {
    this.current = scheduler;
  }

  beginShutdown(): void {
    this.stopping = true;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  isReady(): boolean {
    return !this.stopping && this.current !== undefined && this.current.isReady();
  }

  /**
   * The scheduler, or a 503 problem while loading. Requests that arrived before a shutdown
   * began still get it (they drain); new ones are refused earlier, in the onRequest hook.
   */
  requireScheduler(): Scheduler {
    if (this.current === undefined) throw new ServiceError('not_ready', 'the models are still loading', { retryAfterSeconds: 1 });
    return this.current;
  }
}
