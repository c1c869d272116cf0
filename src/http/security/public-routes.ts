/**
 * Routes that answer without an API key: the probes an orchestrator calls (it holds no key),
 * and the API description (no data; Swagger UI must load in a browser before a key is entered).
 * /metrics is not among them: it tells request volumes and model names; Prometheus sends the
 * key (scrape config `authorization`). Decided on the matched route pattern, never on the raw
 * URL, so that no spelling of a path (//healthz, /healthz/.., %2F) can reach another route.
 */
/** Liveness: answered during a drain too. */
export const LIVENESS_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/v2/health/live']);
const READINESS_ROUTES: ReadonlySet<string> = new Set(['/readyz', '/v2/health/ready']);
const DOCUMENTATION_ROUTES: ReadonlySet<string> = new Set(['/openapi.json', '/docs']);

/** `route` is request.routeOptions.url (undefined for unmatched requests). */
export function isPublicRoute(route: string | undefined): boolean {
  if (route === undefined) return false;
  return LIVENESS_ROUTES.has(route) || READINESS_ROUTES.has(route) || DOCUMENTATION_ROUTES.has(route) || route.startsWith('/docs/');
}

export function isLivenessRoute(route: string | undefined): boolean {
  return route !== undefined && LIVENESS_ROUTES.has(route);
}

/** The orchestrator's probes, liveness and readiness. */
export function isProbeRoute(route: string | undefined): boolean {
  return route !== undefined && (LIVENESS_ROUTES.has(route) || READINESS_ROUTES.has(route));
}
