/**
 * Load shedding at the door: while the engine's admission controller says the event loop is
 * behind (src/engine/admission.ts, reason event_loop_delay), new requests are refused in
 * onRequest, before their bodies are read, with a 503 overloaded problem and Retry-After, so
 * that the requests already admitted keep their deadlines. The probes and /metrics still
 * answer: an overloaded process is alive and ready (failing readiness would move its load onto
 * the other replicas, which then fail theirs: a cascade; refusing quickly is its answer to
 * overload), and overload is when its metrics matter.
 */
import type { FastifyInstance } from 'fastify';
import { isProbeRoute } from './security/public-routes.js';
import type { ServiceState } from './state.js';

export function registerLoadShedding(app: FastifyInstance, state: ServiceState): void {
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (isProbeRoute(route) || route === '/metrics') return;
    state.engine?.admission.checkEventLoop();
  });
}
