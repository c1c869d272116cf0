/**
 * What the HTTP layer knows about the service's life: the engine once the models are loaded
 * and warmed up, and whether a shutdown began. The server listens before the models are ready
 * (so /healthz answers during a long load); API routes answer 503 until then.
 */
import type { Engine } from '../engine/index.js';
import { ServiceError } from '../errors.js';

export class ServiceState {
  private current: Engine | undefined;
  private stopping = false;

  constructor(engine?: Engine) {
    this.current = engine;
  }

  get engine(): Engine | undefined {
    return this.current;
  }

  setEngine(engine: Engine): void {
    this.current = engine;
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

  /** Why the service is not ready (503): shutting down, still loading, or an unhealthy inference pool. */
  notReady(): ServiceError {
    if (this.stopping) return new ServiceError('shutting_down', 'the service is shutting down', { retryAfterSeconds: 1 });
    return new ServiceError('not_ready', this.current ? 'the inference pool is unhealthy' : 'the models are still loading', { retryAfterSeconds: 1 });
  }

  /**
   * The engine, or a 503 problem while loading. Requests that arrived before a shutdown began
   * still get it (they drain); new ones are refused earlier, in the onRequest hook.
   */
  requireEngine(): Engine {
    if (this.current === undefined) throw new ServiceError('not_ready', 'the models are still loading', { retryAfterSeconds: 1 });
    return this.current;
  }
}
