/**
 * POST /v1/encode: images, token ids or texts -> embeddings (and per-token features).
 * images: vq_encoder then semantic_encoder; tokens: semantic_encoder (a raster-order prefix of
 * T < N ids gives that prefix's causal features); texts: the bundle tokenizer, text_encoder.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ServiceError } from '../../errors.js';
import type { ImagePreprocessor } from '../../images/index.js';
import type { SemanticOutput } from '../../scheduling/scheduler.js';
import { preprocessAll } from '../inputs/images.js';
import { parseInput } from '../inputs/request.js';
import { readTokenRows } from '../inputs/tokens.js';
import { setTimingHeaders } from '../request-context.js';
import type { RouteOptions } from '../route-options.js';
import { type EncodeBody, EncodeOptions, EncodeResponse, encodeSchemaBody } from '../schemas/inference.js';
import { EMBEDDING_PROBLEMS, problemResponses } from '../schemas/problem.js';
import { floatsToBase64, l2Normalize, rows } from '../vectors.js';
import { context, imageAdmission, limitsOf, requireOne, resolveModel } from './common.js';
import { tokenizeTexts } from './texts.js';

export const encodeRoutes: FastifyPluginAsync<RouteOptions & { images: ImagePreprocessor }> = async (app, options) => {
  const { config, state, metrics, images: preprocessor } = options;
  const limits = limitsOf(options);
  app.post(
    '/v1/encode',
    {
      schema: {
        tags: ['inference'],
        operationId: 'encode',
        summary: 'Images, token ids or texts to embeddings and per-token features',
        description:
          'Exactly one input: images (JSON, multipart or a raw image/* body), tokens / tokens_base64, or texts. ' +
          'A token row shorter than N is a raster-order prefix and gets its causal features.',
        querystring: EncodeOptions,
        body: encodeSchemaBody(limits),
        response: {
          200: EncodeResponse,
          ...problemResponses(EMBEDDING_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const scheduler = state.requireScheduler();
      const { input, options: opts } = await parseInput<EncodeBody, EncodeOptions>(request, {
        optionKeys: ['model', 'output', 'normalize', 'encoding_format'],
        fieldsSchema: EncodeOptions,
        raw: true,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
        remote: options.remoteImages,
      });
      const body = input.body;
      const kind = requireOne(
        { images: input.images !== undefined, tokens: body.tokens !== undefined, tokens_base64: body.tokens_base64 !== undefined, texts: body.texts !== undefined },
        'an input',
      );
      const output = opts.output ?? 'embedding';
      const normalize = opts.normalize ?? true;
      const asBase64 = opts.encoding_format === 'base64';
      const wantFeatures = output !== 'embedding';
      const ctx = context(request, reply, options);

      let encoded: { embedding: Float32Array; features?: Float32Array | undefined }[];
      let timings: { preprocessMs?: number; queueMs: number; inferenceMs: number };
      let modelId: string;
      let dim: number;
      if (kind === 'texts') {
        if (wantFeatures) throw new ServiceError('capability_unavailable', 'per-token features exist for images and tokens only, not texts');
        const model = resolveModel(scheduler, opts.model, 'encode_text');
        const result = await scheduler.encodeTexts(model, tokenizeTexts(model, body.texts!), ctx);
        encoded = result.value.map((embedding) => ({ embedding }));
        timings = result;
        modelId = model.id;
        dim = model.embeddingDim;
      } else {
        let result: { value: SemanticOutput[]; queueMs: number; inferenceMs: number };
        if (kind === 'images') {
          const model = resolveModel(scheduler, opts.model, 'encode_image');
          const pre = await preprocessAll(preprocessor, input.images!, model, imageAdmission(options, ctx, model, scheduler, 'encode'));
          metrics.preprocessTime.observe({ route: '/v1/encode' }, pre.ms / 1000);
          result = await scheduler.encodeImages(model, pre.rgb, wantFeatures, ctx);
          timings = { ...result, preprocessMs: pre.ms };
          modelId = model.id;
          dim = model.embeddingDim;
        } else {
          const model = resolveModel(scheduler, opts.model, 'encode_tokens');
          result = await scheduler.encodeTokens(model, readTokenRows(body, model, 'prefix'), wantFeatures, ctx);
          timings = result;
          modelId = model.id;
          dim = model.embeddingDim;
        }
        encoded = result.value;
      }

      setTimingHeaders(reply, timings);
      const vector = (v: Float32Array) => (asBase64 ? floatsToBase64(v) : Array.from(v));
      const response = {
        model: modelId,
        dim,
        input: kind === 'tokens_base64' ? 'tokens' : kind,
        ...(output !== 'features' ? { embeddings: encoded.map((e) => vector(normalize ? l2Normalize(e.embedding) : e.embedding)) } : {}),
        ...(wantFeatures ? { features: encoded.map((e) => (asBase64 ? floatsToBase64(e.features!) : rows(e.features!, dim))) } : {}),
      };
      // Plain JSON.stringify: the arrays can be large, and the schema holds no unions to pick from.
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(response));
    },
  );
};
