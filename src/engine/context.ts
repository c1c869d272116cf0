/**
 * A request's context in the engine: its id (logs, batch logs), its deadline, and one signal
 * that fires when the request ends early: at the deadline (reason: deadline_exceeded) or when
 * its caller gives up (the front end's signal, e.g. the HTTP client went away). Every queue
 * the request waits in drops its work when the signal fires.
 */
import { ServiceError } from '../errors.js';
import type { WorkContext } from '../scheduling/batcher.js';
import { type Clock, systemClock } from '../scheduling/clock.js';

export interface RequestContext extends WorkContext {
  /** Absolute time on the engine's clock after which the request is answered 504. */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

export interface OpenContext extends RequestContext {
  /** Stops the deadline timer (the request is answered). */
  close(): void;
}

export interface ContextOptions {
  readonly requestId: string;
  /** Time left until the deadline, ms. */
  readonly timeoutMs: number;
  /** The caller's own signal (client gone); its reason is what the request gets. */
  readonly signal?: AbortSignal;
  /** How the deadline is named in the 504 (default: its length). */
  readonly deadlineText?: string;
}

export function createRequestContext(options: ContextOptions, clock: Clock = systemClock): OpenContext {
  const controller = new AbortController();
  const timeoutMs = Math.max(0, options.timeoutMs);
  const deadlineText = options.deadlineText ?? `of ${Math.round(timeoutMs)} ms`;
  const timer = clock.setTimer(
    () => controller.abort(new ServiceError('deadline_exceeded', `request ${options.requestId} passed its deadline ${deadlineText}`)),
    timeoutMs,
  );
  const caller = options.signal;
  const onCallerAbort = () => controller.abort(caller!.reason);
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener('abort', onCallerAbort, { once: true });
  return {
    requestId: options.requestId,
    deadline: clock.now() + timeoutMs,
    signal: controller.signal,
    close: () => {
      clock.clearTimer(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    },
  };
}
