/**
 * Load shedding (@fastify/under-pressure): when the event loop falls behind (mean delay over
 * the last sample above TOKLIP_MAX_EVENT_LOOP_DELAY_MS), new requests are refused in onRequest,
 * before their bodies are parsed, with a 503 overloaded problem and Retry-After, so that the
 * requests already admitted keep their deadlines. The probes and /metrics still answer: an
 * overloaded process is alive and ready (failing readiness would move its load onto the other
 * replicas, which then fail theirs: a cascade; refusing quickly is its answer to overload), and
 * overload is when its metrics matter.
 */
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { ServiceError } from '../errors.js';
import { isProbeRoute } from './security/public-routes.js';

const SAMPLE_INTERVAL_MS = 500;

declare module 'fastify' {
  interface FastifyInstance {
    /** True while new requests are refused with 503 overloaded. */
    shedsLoad(): boolean;
  }
}

export async function registerLoadShedding(app: FastifyInstance, maxEventLoopDelayMs: number): Promise<void> {
  if (maxEventLoopDelayMs <= 0) {
    app.decorate('shedsLoad', () => false);
    return;
  }
  // The samples taken while the app is built measure start-up (schema compilation, worker
  // threads starting), not load: pressure counts from two samples after the app is ready.
  let armed = false;
  app.addHook('onReady', async () => {
    setTimeout(() => (armed = true), 2 * SAMPLE_INTERVAL_MS).unref();
  });
  await app.register(underPressure, {
    maxEventLoopDelay: maxEventLoopDelayMs,
    sampleInterval: SAMPLE_INTERVAL_MS,
    pressureHandler: async (request, _reply, type, value) => {
      const route = request.routeOptions.url;
      if (!armed || isProbeRoute(route) || route === '/metrics') return;
      const behind = typeof value === 'number' && Number.isFinite(value) ? `${Math.round(value)} ms` : 'too far';
      throw new ServiceError('overloaded', `the server is overloaded: its event loop is ${behind} behind (limit ${maxEventLoopDelayMs} ms, ${type}); retry later`, {
        retryAfterSeconds: 1,
      });
    },
  });
  app.decorate('shedsLoad', () => armed && app.isUnderPressure());
}
