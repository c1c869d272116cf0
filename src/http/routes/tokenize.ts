/** POST /v1/tokenize: images -> VQ token ids (raster order), one row per image. */
import type { FastifyPluginAsync } from 'fastify';
import type { ImagePreprocessor } from '../../images/index.js';
import { preprocessAll } from '../inputs/images.js';
import { parseInput } from '../inputs/request.js';
import { idsToBase64 } from '../inputs/tokens.js';
import { setTimingHeaders } from '../request-context.js';
import type { RouteOptions } from '../route-options.js';
import { type TokenizeBody, TokenizeOptions, TokenizeResponse, tokenizeSchemaBody } from '../schemas/inference.js';
import { problemResponses } from '../schemas/problem.js';
import { context, imageAdmission, limitsOf, requireOne, resolveModel } from './common.js';

export const tokenizeRoutes: FastifyPluginAsync<RouteOptions & { images: ImagePreprocessor }> = async (app, options) => {
  const { config, state, metrics, images: preprocessor } = options;
  const limits = limitsOf(options);
  app.post(
    '/v1/tokenize',
    {
      schema: {
        tags: ['inference'],
        operationId: 'tokenize',
        summary: 'Images to discrete VQ token ids',
        description:
          'Images as JSON (base64 or data: URIs), multipart/form-data file parts, or one raw image/* body. ' +
          'Options from JSON members, multipart fields or the query string.',
        querystring: TokenizeOptions,
        body: tokenizeSchemaBody(limits),
        response: {
          200: TokenizeResponse,
          ...problemResponses([
            'invalid_json', 'invalid_base64', 'invalid_data_uri', 'unknown_model', 'payload_too_large', 'too_many_inputs',
            'image_too_large', 'unsupported_media_type', 'unsupported_image_format', 'invalid_image', 'capability_unavailable',
            'queue_full', 'inference_failed', 'worker_crashed', 'deadline_exceeded',
          ]),
        },
      },
    },
    async (request, reply) => {
      const scheduler = state.requireScheduler();
      const { input, options: opts } = await parseInput<TokenizeBody, TokenizeOptions>(request, {
        optionKeys: ['model', 'ids_format'],
        fieldsSchema: TokenizeOptions,
        raw: true,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
        remote: options.remoteImages,
      });
      requireOne({ images: input.images !== undefined }, 'images');
      const model = resolveModel(scheduler, opts.model, 'tokenize');
      const ctx = context(request, reply, options);
      const pre = await preprocessAll(preprocessor, input.images!, model, imageAdmission(options, ctx, model, scheduler, 'tokenize'));
      metrics.preprocessTime.observe({ route: '/v1/tokenize' }, pre.ms / 1000);
      const result = await scheduler.tokenize(model, pre.rgb, ctx);
      setTimingHeaders(reply, { preprocessMs: pre.ms, queueMs: result.queueMs, inferenceMs: result.inferenceMs });
      const base = { model: model.id, grid: [...model.grid], codebook_size: model.codebookSize };
      return opts.ids_format === 'base64'
        ? { ...base, tokens_base64: result.value.map((ids) => idsToBase64(ids, model.codebookSize)) }
        : { ...base, tokens: result.value.map((ids) => Array.from(ids)) };
    },
  );
};
