/**
 * POST /v1/similarity: images or token ids against texts -> cosine matrix and, per image,
 * softmax over the texts of scale * cos (the manifest's score convention: 100 for TokLIP).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ImagePreprocessor } from '../../images/index.js';
import { preprocessAll } from '../inputs/images.js';
import { parseInput } from '../inputs/request.js';
import { readTokenRows } from '../inputs/tokens.js';
import { setTimingHeaders } from '../request-context.js';
import type { RouteOptions } from '../route-options.js';
import { type SimilarityBody, SimilarityOptions, SimilarityResponse, similarityFields, similaritySchemaBody } from '../schemas/inference.js';
import { EMBEDDING_PROBLEMS, problemResponses } from '../schemas/problem.js';
import { similarity } from '../vectors.js';
import { context, imageAdmission, limitsOf, requireOne, resolveModel } from './common.js';
import { tokenizeTexts } from './texts.js';

export const similarityRoutes: FastifyPluginAsync<RouteOptions & { images: ImagePreprocessor }> = async (app, options) => {
  const { config, state, metrics, images: preprocessor } = options;
  const limits = limitsOf(options);
  const fieldsSchema = similarityFields(limits);
  app.post(
    '/v1/similarity',
    {
      schema: {
        tags: ['inference'],
        operationId: 'similarity',
        summary: 'Zero-shot scores of images (or token ids) against texts',
        description: 'Images as JSON or multipart file parts (with repeated `texts` fields), or token ids, plus texts.',
        querystring: SimilarityOptions,
        body: similaritySchemaBody(limits),
        response: {
          200: SimilarityResponse,
          ...problemResponses(EMBEDDING_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const scheduler = state.requireScheduler();
      const { input, options: opts } = await parseInput<SimilarityBody, SimilarityOptions>(request, {
        optionKeys: ['model'],
        fieldsSchema,
        raw: false,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
        remote: options.remoteImages,
      });
      const body = input.body;
      const kind = requireOne(
        { images: input.images !== undefined, tokens: body.tokens !== undefined, tokens_base64: body.tokens_base64 !== undefined },
        'images or token ids',
      );
      const model = resolveModel(scheduler, opts.model, kind === 'images' ? 'encode_image' : 'encode_tokens');
      resolveModel(scheduler, model.id, 'encode_text');
      const ctx = context(request, reply, options);
      const textRows = tokenizeTexts(model, body.texts ?? []);

      let preprocessMs: number | undefined;
      const visual =
        kind === 'images'
          ? preprocessAll(preprocessor, input.images!, model, imageAdmission(options, ctx, model, scheduler, 'encode')).then((pre) => {
              preprocessMs = pre.ms;
              metrics.preprocessTime.observe({ route: '/v1/similarity' }, pre.ms / 1000);
              return scheduler.encodeImages(model, pre.rgb, false, ctx);
            })
          : scheduler.encodeTokens(model, readTokenRows(body, model, 'prefix'), false, ctx);
      // Both towers run concurrently; the text stage is part of the same admitted request.
      const [images, texts] = await Promise.all([visual, scheduler.encodeTexts(model, textRows, ctx)]);
      setTimingHeaders(reply, {
        ...(preprocessMs !== undefined ? { preprocessMs } : {}),
        queueMs: Math.max(images.queueMs, texts.queueMs),
        inferenceMs: Math.max(images.inferenceMs, texts.inferenceMs),
      });
      const scores = similarity(
        images.value.map((v) => v.embedding),
        texts.value,
        model.manifest.score.scale,
      );
      return { model: model.id, ...scores };
    },
  );
};
