/**
 * Per-request scheduling context: id, deadline (TOKLIP_REQUEST_TIMEOUT_MS, or less when the
 * client asks with x-request-timeout-ms) and an abort signal that fires when the client goes
 * away before its response was written (reply.raw 'close': request.signal fires too early on
 * POST bodies in Fastify 5).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../errors.js';
import type { RequestContext } from '../scheduling/batcher.js';
import { systemClock } from '../scheduling/clock.js';

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

export function createRequestContext(request: FastifyRequest, reply: FastifyReply, configuredTimeoutMs: number): RequestContext {
  const timeoutMs = requestTimeoutMs(request, configuredTimeoutMs);
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort(new ServiceError('bad_request', 'the client closed the connection'));
  };
  reply.raw.once('close', onClose);
  return { requestId: request.id, deadline: systemClock.now() + timeoutMs, signal: controller.signal };
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
