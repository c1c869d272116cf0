/**
 * KServe Open Inference Protocol (v2) health and metadata, so that KServe and Triton-style
 * tooling can probe and discover the service. Ready means what /readyz means (every session
 * created and warmed up, not shutting down); not ready is a 503 problem, like every error here.
 * Inference stays on the /v1 routes: there is no /v2/models/{name}/infer.
 */
import { ServiceError } from '../../errors.js';
import { GRAPH_NAMES } from '../../models/manifest.js';
import type { ModelBundle } from '../../models/registry.js';
import { sendProblem } from '../problem.js';
import type { RoutePlugin } from '../route-options.js';
import { LiveResponse, ModelMetadataResponse, ModelNameParams, ModelReadyResponse, ReadyResponse } from '../schemas/kserve.js';
import { problemResponses } from '../schemas/problem.js';
import type { ServiceState } from '../state.js';

const DATATYPES: Record<string, string> = { float32: 'FP32', float16: 'FP16', int64: 'INT64', int32: 'INT32', uint8: 'UINT8' };

function tensors(model: ModelBundle, side: 'inputs' | 'outputs') {
  return GRAPH_NAMES.flatMap((graph) =>
    (model.manifest.graphs[graph]?.[side] ?? []).map((tensor) => ({
      name: `${graph}.${tensor.name}`,
      datatype: DATATYPES[tensor.dtype] ?? tensor.dtype.toUpperCase(),
      shape: tensor.shape.map((dim) => (typeof dim === 'number' ? dim : -1)),
    })),
  );
}

/** The named model, 404 if no such model, 503 while the registry is not loaded. */
function findModel(state: ServiceState, name: string): ModelBundle {
  const model = state.requireEngine().registry.get(name);
  if (model === undefined) throw new ServiceError('unknown_model', `no model '${name}'`);
  return model;
}

export const kserveRoutes: RoutePlugin = async (app, { state }) => {
  const tags = ['compatibility'];

  app.get(
    '/v2/health/live',
    {
      schema: {
        tags,
        operationId: 'kserveLive',
        summary: 'Open Inference Protocol server live (same as /healthz)',
        security: [],
        response: { 200: LiveResponse },
      },
    },
    async () => ({ live: true }),
  );

  app.get(
    '/v2/health/ready',
    {
      schema: {
        tags,
        operationId: 'kserveReady',
        summary: 'Open Inference Protocol server ready (same as /readyz)',
        security: [],
        response: { 200: ReadyResponse, ...problemResponses(['not_ready', 'shutting_down']) },
      },
    },
    async (request, reply) => (state.isReady() ? { ready: true } : sendProblem(reply, state.notReady(), request.id)),
  );

  app.get(
    '/v2/models/:name',
    {
      schema: {
        tags,
        operationId: 'kserveModelMetadata',
        summary: "Open Inference Protocol model metadata: the bundle's graph inputs and outputs",
        params: ModelNameParams,
        response: { 200: ModelMetadataResponse, ...problemResponses(['unknown_model']) },
      },
    },
    async (request) => {
      const model = findModel(state, request.params.name);
      const engine = state.requireEngine();
      return {
        name: model.id,
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: tensors(model, 'inputs'),
        outputs: tensors(model, 'outputs'),
        parameters: {
          description: model.manifest.description ?? '',
          capabilities: model.capabilities.join(','),
          execution_provider: engine.provider,
          embedding_dim: model.embeddingDim,
          num_tokens: model.numTokens,
          image_size: model.imageSize,
        },
      };
    },
  );

  app.get(
    '/v2/models/:name/ready',
    {
      schema: {
        tags,
        operationId: 'kserveModelReady',
        summary: 'Open Inference Protocol model ready',
        params: ModelNameParams,
        response: { 200: ModelReadyResponse, ...problemResponses(['unknown_model']) },
      },
    },
    async (request, reply) => {
      const model = findModel(state, request.params.name);
      return state.isReady() ? { name: model.id, ready: true } : sendProblem(reply, state.notReady(), request.id);
    },
  );
};
