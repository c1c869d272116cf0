/** GET /v1/models: what is loaded and how to call it (the list shape is OpenAI's, with more members). */
import type { CacheInfo } from '../../engine/cache/index.js';
import { bytesPerId } from '../../engine/token-rows.js';
import type { ModelBundle } from '../../models/registry.js';
import type { RoutePlugin } from '../route-options.js';
import { ModelCard, ModelList } from '../schemas/models.js';
import { problemResponses } from '../schemas/problem.js';

function card(model: ModelBundle, isDefault: boolean, provider: string, cache: CacheInfo): ModelCard {
  const m = model.manifest;
  return {
    id: model.id,
    object: 'model',
    owned_by: 'toklip-serve',
    default: isDefault,
    description: m.description ?? null,
    capabilities: [...model.capabilities],
    image_size: model.imageSize,
    grid: [...model.grid],
    num_tokens: model.numTokens,
    codebook_size: model.codebookSize,
    ids_base64_bytes: bytesPerId(model.codebookSize),
    embedding_dim: model.embeddingDim,
    text_context_length: m.text?.context_length ?? null,
    preprocessing: { ...m.preprocessing },
    score: { convention: m.score.convention, scale: m.score.scale },
    dtype: m.dtype,
    compute_dtype: m.compute_dtype ?? m.dtype,
    execution_provider: provider,
    bundle_sha256: model.digest,
    cache: { enabled: cache.enabled, memory_bytes: cache.memoryBytes, shared: cache.shared },
  };
}

export const modelRoutes: RoutePlugin = async (app, { state }) => {
  app.addSchema(ModelCard);
  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['models'],
        operationId: 'listModels',
        summary: 'List the loaded models with their shapes, capabilities and execution provider',
        response: { 200: ModelList, ...problemResponses([]) },
      },
    },
    async () => {
      const engine = state.requireEngine();
      const { registry } = engine;
      return {
        object: 'list' as const,
        default_model: registry.defaultModel.id,
        data: registry.list().map((m) => card(m, m === registry.defaultModel, engine.provider, engine.cacheInfo)),
      };
    },
  );
};
