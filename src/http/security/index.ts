/**
 * Access control and response hardening, registered before the routes:
 * CORS (@fastify/cors, only when TOKLIP_CORS_ORIGINS is set) -> security headers
 * (@fastify/helmet) -> Bearer API keys (TOKLIP_API_KEYS) -> rate limit per key or client
 * address (@fastify/rate-limit, TOKLIP_RATE_LIMIT_MAX). CORS answers preflights before the key
 * check, since browsers send preflights without credentials.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SecurityConfig } from '../../config/schema.js';
import { ServiceError } from '../../errors.js';
import { ApiKeys } from './api-keys.js';
import { isPublicRoute } from './public-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** 'key-N' when the request presented a valid API key. */
    apiKeyId: string | undefined;
  }
}

const REALM = 'Bearer realm="toklip-serve"';
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function unauthorized(detail: string, error?: 'invalid_request' | 'invalid_token'): { error: ServiceError; challenge: string } {
  const challenge = error === undefined ? REALM : `${REALM}, error="${error}", error_description="${detail}"`;
  return { error: new ServiceError('unauthorized', detail), challenge };
}

/** 401 problems for requests without a valid key; undefined when the request may pass. */
export function checkApiKey(keys: ApiKeys, request: FastifyRequest): { error: ServiceError; challenge: string } | undefined {
  if (!keys.enabled || isPublicRoute(request.routeOptions.url)) return undefined;
  const header = request.headers.authorization;
  if (header === undefined || header.trim() === '') return unauthorized('this route needs an API key: send Authorization: Bearer <key>');
  const match = BEARER.exec(header);
  if (!match) return unauthorized('the Authorization header must be "Bearer <key>"', 'invalid_request');
  const key = keys.match(match[1]!);
  if (key === undefined) return unauthorized('the API key is not valid', 'invalid_token');
  request.apiKeyId = key.id;
  return undefined;
}

export async function registerSecurity(app: FastifyInstance, security: SecurityConfig): Promise<void> {
  if (security.corsOrigins !== undefined) {
    await app.register(cors, {
      origin: security.corsOrigins === '*' ? '*' : [...security.corsOrigins],
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'accept', 'x-request-id', 'x-request-timeout-ms'],
      exposedHeaders: [
        'x-request-id', 'x-preprocess-time', 'x-queue-time', 'x-inference-time', 'x-cache', 'retry-after',
        'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset',
      ],
      credentials: false,
      maxAge: 600,
    });
  }

  // API responses are JSON or image bytes, never pages: a CSP that allows nothing. Swagger UI
  // (/docs) replaces it with its own (staticCSP). No HSTS: TLS ends at the ingress, which owns it.
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] } },
    strictTransportSecurity: false,
    crossOriginResourcePolicy: { policy: security.corsOrigins === undefined ? 'same-origin' : 'cross-origin' },
  });

  // Cross-Origin-Opener-Policy means something only to a page reached over TLS: over plain HTTP
  // (a machine's own address, no ingress) browsers ignore it and print an error on every /docs load.
  app.addHook('onSend', async (request, reply) => {
    if (request.protocol !== 'https') reply.removeHeader('cross-origin-opener-policy');
  });

  const keys = new ApiKeys(security.apiKeys);
  app.decorateRequest('apiKeyId', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const refusal = checkApiKey(keys, request);
    if (refusal === undefined) {
      // Request logs (the handler's and Fastify's "request completed") name the key by its position, never by its value.
      if (request.apiKeyId !== undefined) request.log = reply.log = request.log.child({ apiKey: request.apiKeyId });
      return;
    }
    reply.header('www-authenticate', refusal.challenge);
    throw refusal.error;
  });

  if (security.rateLimit !== undefined) {
    const { max, windowMs } = security.rateLimit;
    await app.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      max,
      timeWindow: windowMs,
      keyGenerator: (request) => (request.apiKeyId !== undefined ? `apikey:${request.apiKeyId}` : `ip:${request.ip}`),
      allowList: (request) => isPublicRoute(request.routeOptions.url),
      errorResponseBuilder: (request, context) =>
        new ServiceError(
          'rate_limited',
          `more than ${context.max} requests in ${windowMs / 1000} s from this ${request.apiKeyId !== undefined ? 'API key' : 'client address'}; retry in ${context.after}`,
          { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
        ),
    });
  }
}
