/**
 * The OpenAPI document as this instance serves it (/openapi.json and Swagger UI's /docs/json):
 * the committed document's examples, written for the shipped model, rebound to the default
 * model actually served, so that "Try it out" works whatever bundle runs. Until the models are
 * loaded, the document as committed.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine/index.js';
import { SHIPPED_EXAMPLES, modelExamples, rebindExamples } from './schemas/examples.js';
import type { ServiceState } from './state.js';

export function servedOpenApi(app: FastifyInstance, state: ServiceState): () => Record<string, unknown> {
  let cache: { engine: Engine; document: Record<string, unknown> } | undefined;
  return () => {
    const document = app.swagger() as unknown as Record<string, unknown>;
    const engine = state.engine;
    if (engine === undefined) return document;
    if (cache?.engine !== engine) cache = { engine, document: rebindExamples(document, SHIPPED_EXAMPLES, modelExamples(engine.registry.defaultModel)) };
    return cache.document;
  };
}
