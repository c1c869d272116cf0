/**
 * POST /v1/embeddings: the OpenAI Embeddings API over the same batchers as /v1/encode (texts:
 * tokenizer + text_encoder; images: preprocessing, vq_encoder, semantic_encoder). Embeddings are
 * L2-normalised, as OpenAI's are.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ServiceError } from '../../errors.js';
import type { ImagePreprocessor } from '../../images/index.js';
import { preprocessAll, readImageStrings } from '../inputs/images.js';
import { toServiceError } from '../problem.js';
import { setTimingHeaders } from '../request-context.js';
import type { RouteOptions } from '../route-options.js';
import { type EmbeddingsBody, EmbeddingsBody as EmbeddingsBodySchema, EmbeddingsResponse } from '../schemas/openai.js';
import { problemResponses } from '../schemas/problem.js';
import { floatsToBase64, l2Normalize } from '../vectors.js';
import { context, imageAdmission, resolveModel } from './common.js';
import { tokenizeTexts } from './texts.js';

/** The input strings, or a 400 for the token-array forms of the OpenAI API. */
function inputStrings(input: EmbeddingsBody['input']): string[] {
  const list: unknown[] = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new ServiceError('bad_request', 'input is empty');
  if (list.some((item) => typeof item !== 'string')) {
    throw new ServiceError(
      'bad_request',
      "input holds token ids: send texts (the service tokenizes them with the model's own tokenizer) or, with modality image, images",
    );
  }
  return list as string[];
}

/**
 * OpenAI SDKs build their exception message from an `error` object in the body. RFC 9457 allows
 * extension members, so the problem document of these routes also carries one: still
 * problem+json for everyone, and `404 no model 'x'` rather than `404 status code (no body)` in
 * an SDK's exception.
 */
function withOpenAiError(error: ServiceError): ServiceError {
  const hidden = error.code === 'internal' || error.code === 'inference_failed';
  const openAiError = {
    message: hidden ? error.title : error.message,
    type: error.status < 500 ? 'invalid_request_error' : 'server_error',
    param: null,
    code: error.code,
  };
  return new ServiceError(error.code, error.message, {
    extensions: { ...error.extensions, error: openAiError },
    retryAfterSeconds: error.retryAfterSeconds,
    cause: error,
  });
}

export const openAiRoutes: FastifyPluginAsync<RouteOptions & { images: ImagePreprocessor }> = async (app, options) => {
  const { config, state, metrics, images: preprocessor } = options;
  // Encapsulated: only this plugin's routes. Rethrown, so the app's handler logs and sends it.
  app.setErrorHandler(async (error) => {
    throw withOpenAiError(toServiceError(error, config.bodyLimitBytes, config.maxImagesPerRequest));
  });
  app.post(
    '/v1/embeddings',
    {
      // JSON only: say so before the body schema reports a multipart or image body as "not an object".
      preValidation: async (request) => {
        if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
          throw new ServiceError('unsupported_media_type', 'POST /v1/embeddings takes an application/json body');
        }
      },
      schema: {
        tags: ['compatibility'],
        operationId: 'createEmbeddings',
        summary: 'Embeddings of texts or images, in the OpenAI Embeddings API shape',
        description:
          'Drop-in for OpenAI SDKs (`client.embeddings.create`): `input` is a string or an array of strings, ' +
          '`encoding_format` float or base64. `modality: "image"` makes the strings images (base64 or data: URIs). ' +
          'Errors are application/problem+json with an extra OpenAI-style `error` member ({message, type, param, ' +
          'code}), which OpenAI SDKs put in their exceptions.',
        body: EmbeddingsBodySchema,
        response: {
          200: EmbeddingsResponse,
          ...problemResponses([
            'invalid_json', 'invalid_base64', 'invalid_data_uri', 'invalid_text', 'unknown_model', 'payload_too_large',
            'too_many_inputs', 'image_too_large', 'unsupported_media_type', 'unsupported_image_format', 'invalid_image',
            'capability_unavailable', 'queue_full', 'inference_failed', 'worker_crashed', 'deadline_exceeded',
          ]),
        },
      },
    },
    async (request, reply) => {
      const scheduler = state.requireScheduler();
      const body = request.body as EmbeddingsBody;
      const inputs = inputStrings(body.input);
      if (inputs.length > config.maxImagesPerRequest) {
        throw new ServiceError('too_many_inputs', `input has more than ${config.maxImagesPerRequest} entries`);
      }
      const modality = body.modality ?? 'text';
      const model = resolveModel(scheduler, body.model, modality === 'text' ? 'encode_text' : 'encode_image');
      if (body.dimensions !== undefined && body.dimensions !== model.embeddingDim) {
        throw new ServiceError(
          'bad_request',
          `dimensions=${body.dimensions}: model ${model.id} gives ${model.embeddingDim}-dimensional embeddings and does not truncate them`,
        );
      }
      const ctx = context(request, reply, options);

      let embeddings: Float32Array[];
      let tokenCounts: number[];
      if (modality === 'text') {
        const rows = tokenizeTexts(model, inputs, 'input');
        const pad = model.manifest.text?.pad_id;
        tokenCounts = rows.map((row) => row.filter((id) => id !== pad).length);
        const result = await scheduler.encodeTexts(model, rows, ctx);
        setTimingHeaders(reply, result);
        embeddings = result.value;
      } else {
        const bytes = await readImageStrings(inputs, options.remoteImages, config.bodyLimitBytes);
        const pre = await preprocessAll(preprocessor, bytes, model, imageAdmission(options, ctx, model, scheduler, 'encode'));
        metrics.preprocessTime.observe({ route: '/v1/embeddings' }, pre.ms / 1000);
        const result = await scheduler.encodeImages(model, pre.rgb, false, ctx);
        setTimingHeaders(reply, { ...result, preprocessMs: pre.ms });
        embeddings = result.value.map((output) => output.embedding);
        tokenCounts = inputs.map(() => model.numTokens);
      }

      const asBase64 = body.encoding_format === 'base64';
      const total = tokenCounts.reduce((sum, n) => sum + n, 0);
      const response = {
        object: 'list',
        data: embeddings.map((vector, index) => {
          const unit = l2Normalize(vector);
          return { object: 'embedding', index, embedding: asBase64 ? floatsToBase64(unit) : Array.from(unit) };
        }),
        model: model.id,
        usage: { prompt_tokens: total, total_tokens: total },
      };
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(response));
    },
  );
};
