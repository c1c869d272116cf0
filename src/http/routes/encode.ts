/**
 * POST /v1/encode: images, token ids or texts -> embeddings (and per-token features).
 * images: vq_encoder then semantic_encoder; tokens: semantic_encoder (a raster-order prefix of
 * T < N ids gives that prefix's causal features); texts: the bundle tokenizer, text_encoder.
 */
import type { Result } from '../../engine/index.js';
import { ServiceError } from '../../errors.js';
import { parseInput, requireOne } from '../inputs/request.js';
import { tokenRows } from '../inputs/tokens.js';
import { httpRequestContext, setCacheHeader, setTimingHeaders } from '../request-context.js';
import type { RoutePlugin } from '../route-options.js';
import { type EncodeBody, EncodeOptions, EncodeResponse, NoFields, type RequestBody, encodeSchemaBody } from '../schemas/inference.js';
import { EMBEDDING_PROBLEMS, problemResponses } from '../schemas/problem.js';
import { embeddingVector, featureRows, logUnknownWords } from '../vectors.js';

interface Encoded {
  readonly embedding: Float32Array;
  readonly features?: Float32Array | undefined;
}

export const encodeRoutes: RoutePlugin = async (app, options) => {
  const { config, state } = options;
  app.post<{ Body: RequestBody<EncodeBody>; Querystring: EncodeOptions }>(
    '/v1/encode',
    {
      schema: {
        tags: ['inference'],
        operationId: 'encode',
        summary: 'Images, token ids or texts to embeddings and per-token features',
        description:
          'Exactly one input: images (JSON, multipart or a raw image/* body), tokens / tokens_base64, or texts. ' +
          'A token row shorter than N is a raster-order prefix and gets its causal features. Texts answers name, per text, ' +
          "the words the model's tokenizer could not represent (`unknown_words`).",
        querystring: EncodeOptions,
        body: encodeSchemaBody({ maxInputs: config.maxImagesPerRequest }),
        response: {
          200: EncodeResponse,
          ...problemResponses(EMBEDDING_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const engine = state.requireEngine();
      const { input, options: opts } = await parseInput(request, request.body, request.query, {
        options: EncodeOptions,
        fields: NoFields,
        raw: true,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
        remote: options.remoteImages,
      });
      const body: Partial<EncodeBody> = input.json ?? {};
      const kind = requireOne(
        { images: input.images !== undefined, tokens: body.tokens !== undefined, tokens_base64: body.tokens_base64 !== undefined, texts: body.texts !== undefined },
        'an input',
      );
      const output = opts.output ?? 'embedding';
      const wantFeatures = output !== 'embedding';
      if (kind === 'texts' && wantFeatures) throw new ServiceError('capability_unavailable', 'per-token features exist for images and tokens only, not texts');
      const ctx = httpRequestContext(request, reply, engine, config.requestTimeoutMs);

      let result: Result<readonly Encoded[]>;
      let unknownWords: (readonly string[])[] | undefined;
      if (kind === 'texts') {
        const texts = await engine.encodeTexts({ model: opts.model, texts: body.texts ?? [] }, ctx);
        unknownWords = texts.value.map((t) => t.unknownWords);
        logUnknownWords(request.log, unknownWords);
        result = texts;
      } else if (kind === 'images') {
        result = await engine.encodeImages({ model: opts.model, images: input.images ?? [], features: wantFeatures }, ctx);
      } else {
        const model = engine.resolveModel(opts.model, 'encode_tokens');
        result = await engine.encodeTokens({ model: model.id, ...tokenRows(body, model.codebookSize), features: wantFeatures }, ctx);
      }

      setTimingHeaders(reply, result.timings);
      setCacheHeader(reply, result.cache);
      const asBase64 = opts.encoding_format === 'base64';
      const normalize = opts.normalize ?? true;
      const dim = result.model.embeddingDim;
      const response = {
        model: result.model.id,
        dim,
        input: kind === 'tokens_base64' ? 'tokens' : kind,
        ...(output !== 'features' ? { embeddings: result.value.map((e) => embeddingVector(e.embedding, { normalize, asBase64 })) } : {}),
        ...(wantFeatures ? { features: result.value.map((e) => featureRows(e.features!, dim, asBase64)) } : {}),
        ...(unknownWords !== undefined ? { unknown_words: unknownWords } : {}),
      };
      // Plain JSON.stringify: the arrays can be large, and the schema holds no unions to pick from.
      return reply.type('application/json; charset=utf-8').serializer(JSON.stringify).send(response);
    },
  );
};
