/** Operations routes: liveness, readiness, Prometheus metrics, the OpenAPI document. */
import Type from 'typebox';
import { sendProblem } from '../problem.js';
import type { RoutePlugin } from '../route-options.js';
import { servedOpenApi } from '../served-openapi.js';
import { problemResponses } from '../schemas/problem.js';

const Status = Type.Object({ status: Type.String() });

export const healthRoutes: RoutePlugin = async (app, { state, metrics }) => {
  const openApiDocument = servedOpenApi(app, state);
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'healthz',
        summary: 'Liveness: the process serves HTTP',
        security: [],
        response: { 200: { ...Status, examples: [{ status: 'ok' }] } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'readyz',
        summary: 'Readiness: every session created and warmed up, not shutting down',
        security: [],
        response: { 200: { ...Status, examples: [{ status: 'ready' }] }, ...problemResponses(['not_ready', 'shutting_down']) },
      },
    },
    async (request, reply) => {
      if (state.isReady()) return { status: 'ready' };
      return sendProblem(reply, state.notReady(), request.id);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format)',
        produces: ['text/plain'],
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: Type.String() } } } },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => openApiDocument());
};
