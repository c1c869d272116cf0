/** Helpers shared by the inference routes. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../../errors.js';
import type { Capability, ModelBundle } from '../../models/registry.js';
import type { RequestContext } from '../../scheduling/batcher.js';
import type { Scheduler } from '../../scheduling/scheduler.js';
import { createRequestContext } from '../request-context.js';
import type { RouteOptions } from '../route-options.js';
import type { SchemaLimits } from '../schemas/inference.js';
import type { PreprocessOptions } from '../inputs/images.js';

export function limitsOf(options: RouteOptions): SchemaLimits {
  return { maxInputs: options.config.maxImagesPerRequest };
}

export function resolveModel(scheduler: Scheduler, id: string | undefined, capability: Capability): ModelBundle {
  const { registry } = scheduler;
  const model = id === undefined ? registry.defaultModel : registry.get(id);
  if (model === undefined) {
    throw new ServiceError('unknown_model', `no model '${id}'; loaded: ${registry.ids().join(', ')}`);
  }
  if (!model.capabilities.includes(capability)) {
    throw new ServiceError('capability_unavailable', `model ${model.id} cannot ${capability.replace('_', ' ')} (capabilities: ${model.capabilities.join(', ')})`);
  }
  return model;
}

export function context(request: FastifyRequest, reply: FastifyReply, options: RouteOptions): RequestContext {
  return createRequestContext(request, reply, options.config.requestTimeoutMs, options.state.scheduler?.clock);
}

export function requireOne(sources: Record<string, boolean>, what: string): string {
  const given = Object.entries(sources).filter(([, present]) => present).map(([name]) => name);
  if (given.length !== 1) {
    const names = Object.keys(sources).join(', ');
    const missing = Object.keys(sources).length === 1 ? `the request holds no ${what}` : `give ${what}: one of ${names}`;
    throw new ServiceError('bad_request', given.length === 0 ? missing : `give only one of ${names} (got ${given.join(' and ')})`);
  }
  return given[0]!;
}

/**
 * How a route's images enter the preprocessing queue: bounded (429), refused before decoding
 * when they could not be preprocessed and then run through the inference stages (`operation`
 * says which) before the deadline, dropped at the deadline or when the client leaves.
 */
export function imageAdmission(
  options: RouteOptions,
  ctx: RequestContext,
  model: ModelBundle,
  scheduler: Scheduler,
  operation: 'tokenize' | 'encode',
): PreprocessOptions {
  return {
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    queueLimit: options.config.queueLimit,
    onRejected: () => options.metrics.rejected.inc({ model: model.id, graph: 'preprocess', reason: 'queue_limit' }),
    onTimedOut: () => options.metrics.timedOut.inc({ model: model.id, graph: 'preprocess' }),
    admit: (images, preprocessMs) => scheduler.checkImageAdmission(model, operation, images, ctx, preprocessMs),
  };
}
