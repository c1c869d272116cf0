/**
 * The engine context of an HTTP request: its id, its deadline (TOKLIP_REQUEST_TIMEOUT_MS, or
 * less when the client asks with x-request-timeout-ms), counted from the request's arrival so
 * that the time spent reading its body counts too, and a signal that also fires when the client
 * goes away before its response was written (reply.raw 'close': request.signal fires too early
 * on POST bodies in Fastify 5).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CacheOutcome } from '../engine/cache/index.js';
import { type Engine, type Timings, type RequestContext, createRequestContext } from '../engine/index.js';
import { ServiceError } from '../errors.js';

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

export function httpRequestContext(request: FastifyRequest, reply: FastifyReply, engine: Engine, configuredTimeoutMs: number): RequestContext {
  const timeoutMs = requestTimeoutMs(request, configuredTimeoutMs);
  const clientGone = new AbortController();
  const ctx = createRequestContext(
    { requestId: request.id, timeoutMs: timeoutMs - reply.elapsedTime, signal: clientGone.signal, deadlineText: `of ${timeoutMs} ms` },
    engine.clock,
  );
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) clientGone.abort(new ServiceError('bad_request', 'the client closed the connection'));
    ctx.close();
  });
  return ctx;
}

/** TEI-style timing headers, in milliseconds. */
export function setTimingHeaders(reply: FastifyReply, timings: Timings): void {
  const ms = (v: number) => (Math.round(v * 100) / 100).toString();
  if (timings.preprocessMs !== undefined) reply.header('x-preprocess-time', ms(timings.preprocessMs));
  reply.header('x-queue-time', ms(timings.queueMs));
  reply.header('x-inference-time', ms(timings.inferenceMs));
}

/** `x-cache`: hit (every item from the result cache), miss (none) or partial; absent when caching is off. */
export function setCacheHeader(reply: FastifyReply, outcome: CacheOutcome | undefined): void {
  if (outcome === undefined) return;
  reply.header('x-cache', outcome.misses === 0 && outcome.hits > 0 ? 'hit' : outcome.hits === 0 ? 'miss' : 'partial');
}
