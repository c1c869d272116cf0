/**
 * Options of @fastify/swagger: the document's metadata and its security. Without API keys the
 * document requires nothing (`security: []`: no scheme to send, no lock icons in Swagger UI); with
 * TOKLIP_API_KEYS every route but the public ones (health, documentation) requires the Bearer
 * scheme and documents its 401, and with a rate limit the 429 rate_limited answer.
 */
import { readFileSync } from 'node:fs';
import type { SwaggerOptions } from '@fastify/swagger';
import Type from 'typebox';
import type { Config } from '../config/schema.js';
import { ERROR_TABLE, type ErrorCode } from '../errors.js';
import { PROBLEM_CONTENT_TYPE } from './schemas/problem.js';
import { isPublicRoute } from './security/public-routes.js';

type Responses = Record<string, { description?: string; content?: unknown }>;

/** Adds a problem code to a response map, next to the codes that share its status. */
function withProblem(responses: Responses | undefined, code: ErrorCode): Responses {
  const { status, title } = ERROR_TABLE[code];
  const out: Responses = { ...(responses ?? {}) };
  const existing = out[status];
  out[status] = existing?.description
    ? { ...existing, description: `${existing.description}; ${code}: ${title}` }
    : { description: `${code}: ${title}`, content: { [PROBLEM_CONTENT_TYPE]: { schema: Type.Ref('Problem') } } };
  return out;
}

/** The package's version (package.json sits two folders above this module in src/ and dist/ alike). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

const BEARER_AUTH = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description: 'API key as a Bearer token (this deployment requires one on every route but health and documentation)',
  },
} as const;

export function openApiOptions(config: Config): SwaggerOptions {
  const { apiKeys, rateLimit } = config.security;
  const keysRequired = apiKeys.length > 0;
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'toklip-serve',
        version: packageVersion(),
        description:
          'TokLIP over HTTP: images to discrete VQ tokens, tokens back to images, and images, tokens or texts to ' +
          'embeddings. Errors are application/problem+json (RFC 9457).',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the instance that serves this document (GET /openapi.json).
      servers: [{ url: '/', description: 'This instance' }],
      // Without keys, no requirement at all (an empty list, not an optional scheme).
      ...(keysRequired ? { components: { securitySchemes: BEARER_AUTH }, security: [{ bearerAuth: [] }] } : { security: [] }),
      tags: [
        { name: 'models', description: 'Loaded models' },
        { name: 'inference', description: 'Tokenize, encode, decode, similarity' },
        { name: 'operations', description: 'Health, readiness, metrics' },
        { name: 'compatibility', description: 'OpenAI Embeddings API and KServe Open Inference Protocol (v2) health and metadata' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url }) => {
      if (schema === undefined || (schema as { hide?: boolean }).hide || isPublicRoute(url)) return { schema, url };
      let responses = (schema as { response?: Responses }).response;
      if (keysRequired) responses = withProblem(responses, 'unauthorized');
      if (rateLimit !== undefined) responses = withProblem(responses, 'rate_limited');
      return { schema: { ...schema, response: responses } as typeof schema, url };
    },
  };
}
