/**
 * The HTTP application as a Fastify plugin. buildApp(config, deps) makes the instance
 * (tests and the OpenAPI script build the same one); only server.ts listens.
 */
import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { pino, type Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { ServiceError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { TracingRuntime } from '../tracing/index.js';
import { registerBodyParsers } from './body-parsers.js';
import { MULTIPART_FIELD_BYTES } from './inputs/images.js';
import { registerErrorHandling, sendProblem } from './problem.js';
import { registerLoadShedding } from './load-shedding.js';
import { servedOpenApi } from './served-openapi.js';
import { bodyValidator, textValidator } from './validation.js';
import { openApiOptions } from './openapi-options.js';
import { type RemoteImageFetcher, createRemoteImageFetcher } from './remote-images/fetch-image.js';
import { registerSecurity } from './security/index.js';
import { isLivenessRoute } from './security/public-routes.js';
import { decodeRoutes } from './routes/decode.js';
import { encodeRoutes } from './routes/encode.js';
import { healthRoutes } from './routes/health.js';
import { kserveRoutes } from './routes/kserve.js';
import { modelRoutes } from './routes/models.js';
import { openAiRoutes } from './routes/openai.js';
import { similarityRoutes } from './routes/similarity.js';
import { tokenizeRoutes } from './routes/tokenize.js';
import { ProblemSchema } from './schemas/problem.js';
import type { ServiceState } from './state.js';

export interface AppDeps {
  /** The engine, once the models are loaded, and the shutdown flag. */
  readonly state: ServiceState;
  readonly metrics: Metrics;
  /** Defaults to a pino logger at config.logLevel. */
  readonly logger?: Logger;
  /** Image URL fetcher; by default made from config.security.remoteImages (none when URLs are off). Tests pass one. */
  readonly remoteImages?: RemoteImageFetcher;
  /** OpenTelemetry tracing when on: @fastify/otel opens each request's span (src/tracing). */
  readonly tracing?: TracingRuntime;
}

export interface AppOptions {
  readonly config: Config;
  readonly deps: AppDeps;
}

/** The app: a Fastify instance whose routes are typed by their TypeBox schemas. */
export type App = Awaited<ReturnType<typeof buildApp>>;

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Validators from src/http/validation.ts: strict for JSON bodies, coercing for text (query, params, headers). */
function installValidators(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart, contentType }) => {
    if (httpPart === 'body') {
      // multipart and raw image bodies are parsed and checked by the routes themselves
      if (contentType !== undefined && contentType !== 'application/json') return () => true;
      return bodyValidator(schema);
    }
    return textValidator(schema);
  });
}

const appPlugin: FastifyPluginAsync<AppOptions> = async (app, { config, deps }) => {
  // First: its onRequest hook starts the request's span (continuing an incoming traceparent)
  // before any other hook, and it wraps the handlers of the routes registered after it.
  if (deps.tracing !== undefined) await app.register(deps.tracing.fastifyPlugin);
  installValidators(app);
  registerErrorHandling(app, { bodyLimitBytes: config.bodyLimitBytes, maxInputs: config.maxImagesPerRequest });
  app.addSchema(ProblemSchema);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Draining: requests already in flight finish; new ones (but liveness) are refused, and
    // every connection closes after its response so that the server can stop.
    if (deps.state.shuttingDown) {
      reply.header('connection', 'close');
      if (!isLivenessRoute(request.routeOptions.url)) {
        return sendProblem(reply, new ServiceError('shutting_down', 'the service is shutting down', { retryAfterSeconds: 1 }), request.id);
      }
    }
  });
  app.addHook('onSend', async (request, reply) => {
    if (deps.state.shuttingDown) reply.header('connection', 'close');
    // Embeddings and tokens of users' images are nobody's to cache.
    if (!request.routeOptions.url?.startsWith('/docs')) reply.header('cache-control', 'no-store');
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    deps.metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  // Overload: refuse new requests before any work while the event loop is behind.
  registerLoadShedding(app, deps.state);
  // CORS, security headers, API keys, rate limit: before any route.
  await registerSecurity(app, config.security);

  // Only JSON, multipart and image bodies: anything else is 415.
  registerBodyParsers(app);
  await app.register(multipart, {
    limits: {
      fileSize: config.bodyLimitBytes,
      files: config.maxImagesPerRequest,
      fields: config.maxImagesPerRequest + 16,
      fieldSize: MULTIPART_FIELD_BYTES,
      parts: 2 * config.maxImagesPerRequest + 16,
    },
  });

  await app.register(swagger, openApiOptions(config));
  // staticCSP: Swagger UI's own Content-Security-Policy on /docs, replacing the API's deny-all one,
  // with two changes: no upgrade-insecure-requests (the service speaks plain HTTP, TLS ends at an
  // ingress, and a browser told to upgrade fetches the UI's scripts over https from any
  // non-loopback address), and inline styles allowed (the UI sets style attributes from its
  // scripts; refused, they print a console error on every load). Scripts stay 'self' only.
  const openApiDocument = servedOpenApi(app, deps.state);
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: (header) =>
      header.replace(/\s*upgrade-insecure-requests;?/g, '').replace(/style-src ([^;]*?)\s*;/, "style-src $1 'unsafe-inline';"),
    // The examples of the document, for the model this instance serves (served-openapi.ts).
    transformSpecification: () => openApiDocument(),
    transformSpecificationClone: false,
  });

  const remote = config.security.remoteImages;
  const remoteImages =
    deps.remoteImages ??
    (remote === undefined
      ? undefined
      : createRemoteImageFetcher({
          policy: { allowedHosts: remote.allowedHosts },
          maxBytes: remote.maxBytes,
          connectTimeoutMs: remote.connectTimeoutMs,
          timeoutMs: remote.timeoutMs,
        }));
  const routeOptions = { config, state: deps.state, metrics: deps.metrics, remoteImages };
  await app.register(healthRoutes, routeOptions);
  await app.register(modelRoutes, routeOptions);
  await app.register(tokenizeRoutes, routeOptions);
  await app.register(decodeRoutes, routeOptions);
  await app.register(encodeRoutes, routeOptions);
  await app.register(similarityRoutes, routeOptions);
  await app.register(openAiRoutes, routeOptions);
  await app.register(kserveRoutes, routeOptions);
};

export const app = fp(appPlugin, { name: 'toklip-app', fastify: '5.x' });

export async function buildApp(config: Config, deps: AppDeps) {
  const logger = deps.logger ?? pino({ level: config.logLevel });
  const instance = Fastify({
    loggerInstance: logger,
    bodyLimit: config.bodyLimitBytes,
    // Slow clients (slowloris): the whole request, headers and body, must arrive within the
    // request deadline, or Node answers 408 and closes the connection. Fastify's default is
    // no limit at all; Node checks the open connections once a second here (default: 30 s).
    requestTimeout: config.requestTimeoutMs,
    http: { headersTimeout: Math.min(config.requestTimeoutMs, 60_000), connectionsCheckingInterval: 1000 },
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    trustProxy: config.security.trustProxy.length > 0 ? [...config.security.trustProxy] : false,
    // Router errors (bad percent-encoding, over-long path parameters) as problems too.
    frameworkErrors: (error, request, reply) => {
      const problem =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ServiceError('uri_too_long', 'a path parameter is longer than 100 characters')
          : new ServiceError('bad_request', error.code === 'FST_ERR_BAD_URL' ? 'the URL path is not valid percent-encoding' : 'the URL cannot be routed');
      return sendProblem(reply, problem, request.id);
    },
    // Our onRequest hook answers new requests during a drain with a problem document.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { strict: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  await instance.register(app, { config, deps });
  return instance;
}
