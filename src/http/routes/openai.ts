/**
 * POST /v1/embeddings: the OpenAI Embeddings API over the same batchers as /v1/encode (texts:
 * tokenizer + text_encoder; images: preprocessing, vq_encoder, semantic_encoder). Embeddings are
 * L2-normalised, as OpenAI's are.
 */
import type { Result } from '../../engine/index.js';
import { ServiceError } from '../../errors.js';
import { readImageStrings } from '../inputs/images.js';
import { toServiceError } from '../problem.js';
import { httpRequestContext, setCacheHeader, setTimingHeaders } from '../request-context.js';
import type { RoutePlugin } from '../route-options.js';
import { type EmbeddingsBody, EmbeddingsBody as EmbeddingsBodySchema, EmbeddingsResponse } from '../schemas/openai.js';
import { problemResponses } from '../schemas/problem.js';
import { embeddingVector, logUnknownWords } from '../vectors.js';

/** The input strings, or a 400 for the token-array forms of the OpenAI API. */
function inputStrings(input: EmbeddingsBody['input']): string[] {
  const list: readonly unknown[] = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw new ServiceError('bad_request', 'input is empty');
  const strings = list.filter((item): item is string => typeof item === 'string');
  if (strings.length !== list.length) {
    throw new ServiceError(
      'bad_request',
      "input holds token ids: send texts (the service tokenizes them with the model's own tokenizer) or, with modality image, images",
    );
  }
  return strings;
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

export const openAiRoutes: RoutePlugin = async (app, options) => {
  const { config, state } = options;
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
      const engine = state.requireEngine();
      const body = request.body;
      const inputs = inputStrings(body.input);
      if (inputs.length > config.maxImagesPerRequest) {
        throw new ServiceError('too_many_inputs', `input has more than ${config.maxImagesPerRequest} entries`);
      }
      const modality = body.modality ?? 'text';
      const model = engine.resolveModel(body.model, modality === 'text' ? 'encode_text' : 'encode_image');
      if (body.dimensions !== undefined && body.dimensions !== model.embeddingDim) {
        throw new ServiceError(
          'bad_request',
          `dimensions=${body.dimensions}: model ${model.id} gives ${model.embeddingDim}-dimensional embeddings and does not truncate them`,
        );
      }
      const ctx = httpRequestContext(request, reply, engine, config.requestTimeoutMs);

      let result: Result<readonly { embedding: Float32Array }[]>;
      let tokenCounts: number[];
      let unknownWords: (readonly string[])[] | undefined;
      if (modality === 'text') {
        const texts = await engine.encodeTexts({ model: model.id, texts: inputs, field: 'input' }, ctx);
        tokenCounts = texts.value.map((t) => t.tokenCount);
        unknownWords = texts.value.map((t) => t.unknownWords);
        logUnknownWords(request.log, unknownWords);
        result = texts;
      } else {
        const bytes = await readImageStrings(inputs, options.remoteImages, config.bodyLimitBytes);
        result = await engine.encodeImages({ model: model.id, images: bytes }, ctx);
        tokenCounts = inputs.map(() => model.numTokens);
      }
      setTimingHeaders(reply, result.timings);
      setCacheHeader(reply, result.cache);

      const encoding = { normalize: true, asBase64: body.encoding_format === 'base64' };
      const total = tokenCounts.reduce((sum, n) => sum + n, 0);
      const response = {
        object: 'list' as const,
        data: result.value.map((e, index) => ({ object: 'embedding' as const, index, embedding: embeddingVector(e.embedding, encoding) })),
        model: model.id,
        usage: { prompt_tokens: total, total_tokens: total },
        ...(unknownWords !== undefined ? { unknown_words: unknownWords.map((words) => [...words]) } : {}),
      };
      return reply.type('application/json; charset=utf-8').serializer(JSON.stringify).send(response);
    },
  );
};
