/**
 * Per-request scheduling context: id, deadline (TOKLIP_REQUEST_TIMEOUT_MS, or less when the
 * client asks with x-request-timeout-ms) and an abort signal that fires when the client goes
 * away before its response was written (reply.raw 'close': request.signal fires too early on
 * POST bodies in Fastify 5).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../errors.js';
import type { RequestContext } from '../scheduling/batcher.js';
import { type Clock, systemClock } from '../scheduling/clock.js';

export const TIMEOUT_HEADER = 'x-request-timeout-ms';

export function requestTimeoutMs(request: FastifyRequest, configured: number): number {
  const raw = request.headers[TIMEOUT_HEADER];
  if (raw === undefined) return configured;
  const value = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim()) || value < 1) {
    throw new ServiceError('bad_request', `${TIMEOUT_HEADER} must be a positive integer of milliseconds`);
  }
  return Math.min(value, configured);
}

/**
 * The deadline counts from the request's arrival (its headers), so that the time an overloaded
 * server spent reading and parsing the body counts too. The signal fires when the client goes
 * away or when the deadline passes, so that every stage (image preprocessing queue, batchers)
 * drops the request's waiting work: nothing queued outlives its deadline. `deadline` is on the
 * scheduler's clock, which admission compares with its predicted wait.
 */
export function createRequestContext(
  request: FastifyRequest,
  reply: FastifyReply,
  configuredTimeoutMs: number,
  clock: Clock = systemClock,
): RequestContext {
  const timeoutMs = requestTimeoutMs(request, configuredTimeoutMs);
  const remainingMs = Math.max(0, timeoutMs - reply.elapsedTime);
  const controller = new AbortController();
  const deadline = setTimeout(
    () => controller.abort(new ServiceError('deadline_exceeded', `request ${request.id} passed its deadline of ${timeoutMs} ms`)),
    remainingMs,
  );
  deadline.unref();
  reply.raw.once('close', () => {
    clearTimeout(deadline);
    if (!reply.raw.writableEnded) controller.abort(new ServiceError('bad_request', 'the client closed the connection'));
  });
  return { requestId: request.id, deadline: clock.now() + remainingMs, signal: controller.signal };
}

export interface Timings {
  preprocessMs?: number;
  queueMs?: number;
  inferenceMs?: number;
}

/** TEI-style timing headers, in milliseconds. */
export function setTimingHeaders(reply: FastifyReply, timings: Timings): void {
  const ms = (v: number) => (Math.round(v * 100) / 100).toString();
  if (timings.preprocessMs !== undefined) reply.header('x-preprocess-time', ms(timings.preprocessMs));
  if (timings.queueMs !== undefined) reply.header('x-queue-time', ms(timings.queueMs));
  if (timings.inferenceMs !== undefined) reply.header('x-inference-time', ms(timings.inferenceMs));
}
