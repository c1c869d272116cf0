/** POST /v1/tokenize: images -> VQ token ids (raster order), one row per image. */
import { idsToBase64 } from '../../engine/packing.js';
import { parseInput, requireOne } from '../inputs/request.js';
import { httpRequestContext, setCacheHeader, setTimingHeaders } from '../request-context.js';
import type { RoutePlugin } from '../route-options.js';
import { NoFields, type RequestBody, type TokenizeBody, TokenizeOptions, TokenizeResponse, tokenizeSchemaBody } from '../schemas/inference.js';
import { problemResponses } from '../schemas/problem.js';

export const tokenizeRoutes: RoutePlugin = async (app, options) => {
  const { config, state } = options;
  app.post<{ Body: RequestBody<TokenizeBody>; Querystring: TokenizeOptions }>(
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
        body: tokenizeSchemaBody({ maxInputs: config.maxImagesPerRequest }),
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
      const engine = state.requireEngine();
      const { input, options: opts } = await parseInput(request, request.body, request.query, {
        options: TokenizeOptions,
        fields: NoFields,
        raw: true,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
        remote: options.remoteImages,
      });
      requireOne({ images: input.images !== undefined }, 'images');
      const ctx = httpRequestContext(request, reply, engine, config.requestTimeoutMs);
      const result = await engine.tokenize({ model: opts.model, images: input.images ?? [] }, ctx);
      setTimingHeaders(reply, result.timings);
      setCacheHeader(reply, result.cache);
      const { model } = result;
      const base = { model: model.id, grid: [...model.grid], codebook_size: model.codebookSize };
      return opts.ids_format === 'base64'
        ? { ...base, tokens_base64: result.value.map((image) => idsToBase64(image.ids, model.codebookSize)) }
        : { ...base, tokens: result.value.map((image) => Array.from(image.ids)) };
    },
  );
};
