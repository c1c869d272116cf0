/**
 * POST /v1/similarity: images or token ids against texts -> cosine matrix and, per image,
 * softmax over the texts of scale * cos (the manifest's score convention: 100 for TokLIP).
 */
import { parseInput, requireOne } from '../inputs/request.js';
import { tokenRows } from '../inputs/tokens.js';
import { httpRequestContext, setCacheHeader, setTimingHeaders } from '../request-context.js';
import type { RoutePlugin } from '../route-options.js';
import { type RequestBody, type SimilarityBody, SimilarityOptions, SimilarityResponse, similarityFields, similaritySchemaBody } from '../schemas/inference.js';
import { EMBEDDING_PROBLEMS, problemResponses } from '../schemas/problem.js';
import { logUnknownWords } from '../vectors.js';

export const similarityRoutes: RoutePlugin = async (app, options) => {
  const { config, state } = options;
  const limits = { maxInputs: config.maxImagesPerRequest };
  app.post<{ Body: RequestBody<SimilarityBody>; Querystring: SimilarityOptions }>(
    '/v1/similarity',
    {
      schema: {
        tags: ['inference'],
        operationId: 'similarity',
        summary: 'Zero-shot scores of images (or token ids) against texts',
        description:
          'Images as JSON or multipart file parts (with repeated `texts` fields), or token ids, plus texts. The answer names, ' +
          "per text, the words the model's tokenizer could not represent (`unknown_words`).",
        querystring: SimilarityOptions,
        body: similaritySchemaBody(limits),
        response: {
          200: SimilarityResponse,
          ...problemResponses(EMBEDDING_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const engine = state.requireEngine();
      const { input, options: opts } = await parseInput(request, request.body, request.query, {
        options: SimilarityOptions,
        fields: similarityFields(limits),
        raw: false,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
        remote: options.remoteImages,
      });
      const body: Partial<SimilarityBody> = input.json ?? {};
      const texts = input.json?.texts ?? input.fields?.texts ?? [];
      const kind = requireOne(
        { images: input.images !== undefined, tokens: body.tokens !== undefined, tokens_base64: body.tokens_base64 !== undefined },
        'images or token ids',
      );
      const ctx = httpRequestContext(request, reply, engine, config.requestTimeoutMs);
      let visual: { images: Buffer[] } | ReturnType<typeof tokenRows>;
      if (kind === 'images') {
        visual = { images: input.images ?? [] };
      } else {
        const model = engine.resolveModel(opts.model, 'encode_tokens');
        visual = tokenRows(body, model.codebookSize);
      }
      const result = await engine.similarity({ model: opts.model, ...visual, texts }, ctx);
      setTimingHeaders(reply, result.timings);
      setCacheHeader(reply, result.cache);
      logUnknownWords(request.log, result.value.unknownWords);
      const { cosine, probabilities, unknownWords } = result.value;
      return { model: result.model.id, cosine, probabilities, unknown_words: unknownWords.map((words) => [...words]) };
    },
  );
};
