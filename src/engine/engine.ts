/**
 * The engine: every operation of the service on plain inputs, below any front end (HTTP, the
 * dataset command, benchmarks, tests). Each operation resolves the model, asks the admission
 * controller, preprocesses images in the image pool, runs the graphs through the scheduler and
 * returns its results with stage timings. Front ends only translate their own wire formats.
 *
 *   tokenize      images -> token ids                  (preprocess, vq_encoder)
 *   encodeImages  images -> ids, embeddings, features   (preprocess, vq_encoder, semantic_encoder)
 *   encodeTokens  id rows -> embeddings, features       (semantic_encoder)
 *   encodeTexts   texts -> embeddings                   (tokenizer, text_encoder)
 *   decode        id rows -> image files                (vq_decoder, encoding)
 *   similarity    images or id rows x texts -> scores    (both towers, the score convention)
 */
import { isServiceError } from '../errors.js';
import { ServiceError } from '../errors.js';
import { type EncodedImage, type ImagePreprocessor, type PreprocessSpec, type ReconstructionFormat, encodeRgb } from '../images/index.js';
import type { Metrics } from '../metrics.js';
import type { GraphName } from '../models/manifest.js';
import type { Capability, ModelBundle, ModelRegistry } from '../models/registry.js';
import type { Scheduler, SemanticOutput, StageView, Timed } from '../scheduling/scheduler.js';
import { NO_TRACING, type Tracing } from '../tracing/index.js';
import type { AdmissionController } from './admission.js';
import {
  type CacheInfo,
  type Computed,
  ENCODED_FILE,
  ENCODED_IMAGE,
  type ItemCache,
  NoCache,
  SEMANTIC_OUTPUT,
  TEXT_EMBEDDING,
  TOKENIZED_IMAGE,
  type Through,
  idsContent,
} from './cache/index.js';
import type { RequestContext } from './context.js';
import { type EncodedImageResult, type EncodedText, type Result, type SimilarityResult, type TokenizedImage, result } from './results.js';
import { similarity } from './scores.js';
import { type TokenizedText, tokenizeTexts } from './texts.js';
import { type TokenRowsInput, checkTokenRows } from './token-rows.js';

/** Which model: an id, or the default model when absent. */
interface ModelChoice {
  readonly model?: string | undefined;
}

export interface EngineParts {
  readonly registry: ModelRegistry;
  readonly scheduler: Scheduler;
  readonly images: ImagePreprocessor;
  readonly admission: AdmissionController;
  readonly metrics?: Metrics;
  /** Result cache (src/engine/cache); default: none (every item computed). */
  readonly cache?: ItemCache;
  /** Spans of preprocessing (the scheduler has its own); default: none. */
  readonly tracing?: Tracing;
}

export function preprocessSpec(model: ModelBundle): PreprocessSpec {
  const p = model.manifest.preprocessing;
  return { size: model.imageSize, resize: p.resize, interpolation: p.interpolation, crop: p.crop };
}

export class Engine {
  readonly registry: ModelRegistry;
  readonly admission: AdmissionController;
  private readonly scheduler: Scheduler;
  private readonly images: ImagePreprocessor;
  private readonly metrics: Metrics | undefined;
  private readonly cache: ItemCache;
  private readonly tracing: Tracing;

  constructor(parts: EngineParts) {
    this.registry = parts.registry;
    this.scheduler = parts.scheduler;
    this.images = parts.images;
    this.admission = parts.admission;
    this.metrics = parts.metrics;
    this.cache = parts.cache ?? new NoCache();
    this.tracing = parts.tracing ?? NO_TRACING;
  }

  /** Whether results are cached, and where. */
  get cacheInfo(): CacheInfo {
    return this.cache.info;
  }

  /** The execution provider the workers run on ('cpu' or 'cuda'). */
  get provider(): string {
    return this.scheduler.provider;
  }

  /** The clock of request deadlines. */
  get clock() {
    return this.scheduler.clock;
  }

  /** Images waiting for a preprocessing thread. */
  get waitingImages(): number {
    return this.images.queued;
  }

  /** False while the inference pool is unhealthy or the engine is closing. */
  isReady(): boolean {
    return this.scheduler.isReady();
  }

  /** The named model (404 unknown_model) that can do `capability` (400 capability_unavailable); the default model when unnamed. */
  resolveModel(id: string | undefined, capability: Capability): ModelBundle {
    const model = id === undefined ? this.registry.defaultModel : this.registry.get(id);
    if (model === undefined) throw new ServiceError('unknown_model', `no model '${id}'; loaded: ${this.registry.ids().join(', ')}`);
    if (!model.capabilities.includes(capability)) {
      throw new ServiceError('capability_unavailable', `model ${model.id} cannot ${capability.replace('_', ' ')} (capabilities: ${model.capabilities.join(', ')})`);
    }
    return model;
  }

  /** Images (encoded files) -> VQ token ids, one row of N per image. */
  tokenize(input: ModelChoice & { images: readonly Uint8Array[] }, ctx: RequestContext): Promise<Result<TokenizedImage[]>> {
    return this.guard(input.model, ctx, async () => {
      const model = this.resolveModel(input.model, 'tokenize');
      const through = await this.cache.through(
        {
          operation: 'tokenize',
          model,
          variant: '',
          inputs: input.images,
          content: (image) => image,
          codec: TOKENIZED_IMAGE,
          compute: (images) => this.computeTokenize(model, images, ctx),
        },
        ctx,
      );
      return result(model, through, { preprocessed: true });
    });
  }

  /** Images -> token ids, pooled embeddings and (when asked) per-token features, in one pass. */
  encodeImages(input: ModelChoice & { images: readonly Uint8Array[]; features?: boolean }, ctx: RequestContext): Promise<Result<EncodedImageResult[]>> {
    return this.guard(input.model, ctx, async () => {
      const model = this.resolveModel(input.model, 'encode_image');
      return result(model, await this.cachedEncodeImages(model, input.images, input.features ?? false, ctx), { preprocessed: true });
    });
  }

  /** Token id rows (a raster-order prefix of 1..N ids each) -> embeddings and (when asked) their causal features. */
  encodeTokens(input: ModelChoice & { rows: TokenRowsInput; features?: boolean; field?: string }, ctx: RequestContext): Promise<Result<SemanticOutput[]>> {
    return this.guard(input.model, ctx, async () => {
      const model = this.resolveModel(input.model, 'encode_tokens');
      const rows = checkTokenRows(input.rows, model, 'prefix', input.field);
      return result(model, await this.cachedEncodeTokens(model, rows, input.features ?? false, ctx));
    });
  }

  /** Texts -> embeddings with the model's own tokenizer; each text's unknown words reported. */
  encodeTexts(input: ModelChoice & { texts: readonly string[]; field?: string }, ctx: RequestContext): Promise<Result<EncodedText[]>> {
    return this.guard(input.model, ctx, async () => {
      const model = this.resolveModel(input.model, 'encode_text');
      return result(model, await this.cachedEncodeTexts(model, input.texts, tokenizeTexts(model, input.texts, input.field), ctx));
    });
  }

  /** Token id rows (exactly N ids each) -> reconstructed images, encoded as `format`. */
  decode(
    input: ModelChoice & { rows: TokenRowsInput; format: ReconstructionFormat; quality: number; field?: string },
    ctx: RequestContext,
  ): Promise<Result<EncodedImage[]>> {
    return this.guard(input.model, ctx, async () => {
      const model = this.resolveModel(input.model, 'decode');
      const rows = checkTokenRows(input.rows, model, 'exact', input.field);
      const through = await this.cache.through(
        {
          operation: 'decode',
          model,
          // The quality is part of every key: a value that encodeRgb would refuse is never stored, so it never hits.
          variant: `${input.format}:q${input.quality}`,
          inputs: rows,
          content: idsContent,
          codec: ENCODED_FILE,
          compute: (missing) => this.computeDecode(model, missing, input.format, input.quality, ctx),
        },
        ctx,
      );
      return result(model, through);
    });
  }

  /** Images or token rows against texts: cosine and softmax of scale * cos over the texts (the manifest's score convention). */
  similarity(
    input: ModelChoice & ({ images: readonly Uint8Array[] } | { rows: TokenRowsInput; field?: string }) & { texts: readonly string[] },
    ctx: RequestContext,
  ): Promise<Result<SimilarityResult>> {
    return this.guard(input.model, ctx, async () => {
      const fromImages = 'images' in input;
      const model = this.resolveModel(input.model, fromImages ? 'encode_image' : 'encode_tokens');
      this.resolveModel(model.id, 'encode_text');
      const texts = tokenizeTexts(model, input.texts);
      // Both towers run concurrently: one request, admitted stage by stage; each item from the
      // cache when there (the same entries as encodeImages / encodeTokens without features and encodeTexts).
      const visual: Promise<Through<{ readonly embedding: Float32Array }>> = fromImages
        ? this.cachedEncodeImages(model, input.images, false, ctx)
        : this.cachedEncodeTokens(model, checkTokenRows(input.rows, model, 'prefix', input.field), false, ctx);
      const [images, encodedTexts] = await Promise.all([visual, this.cachedEncodeTexts(model, input.texts, texts, ctx)]);
      const scores = similarity(
        images.values.map((v) => v.embedding),
        encodedTexts.values.map((t) => t.embedding),
        model.manifest.score.scale,
      );
      const outcomes = [images.outcome, encodedTexts.outcome];
      return {
        model,
        value: { ...scores, unknownWords: texts.map((t) => t.unknownWords) },
        timings: {
          ...(fromImages ? { preprocessMs: images.timings.preprocessMs ?? 0 } : {}),
          queueMs: Math.max(images.timings.queueMs, encodedTexts.timings.queueMs),
          inferenceMs: Math.max(images.timings.inferenceMs, encodedTexts.timings.inferenceMs),
        },
        ...(outcomes.every((o) => o !== undefined)
          ? { cache: { hits: outcomes[0]!.hits + outcomes[1]!.hits, misses: outcomes[0]!.misses + outcomes[1]!.misses } }
          : {}),
      };
    });
  }

  /** Starts the drain of a graceful shutdown: queued work runs without waiting for fuller batches. */
  beginDrain(): void {
    this.scheduler.beginDrain();
  }

  /** Finishes queued and running work, then stops the workers and the image pool. */
  async close(): Promise<void> {
    await this.scheduler.close();
    await this.images.close();
    this.admission.close();
    await this.cache.close();
  }

  /** Runs an operation; a 504 (its deadline passed) is counted by the admission controller. */
  private async guard<T>(modelId: string | undefined, ctx: RequestContext, operation: () => Promise<T>): Promise<T> {
    try {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      return await operation();
    } catch (error) {
      if (isServiceError(error) && error.code === 'deadline_exceeded') this.admission.deadlinePassed(modelId ?? this.registry.defaultModel.id);
      throw error;
    }
  }

  /** Admission (whole request, before decoding), then the images decoded and preprocessed in the image pool. */
  private async preprocess(model: ModelBundle, images: readonly Uint8Array[], stages: readonly StageView[], ctx: RequestContext, operation: string) {
    this.admission.admitImages(model.id, stages, images.length, ctx);
    const started = performance.now();
    const preprocessed = await this.tracing.span(
      'toklip.preprocess',
      { 'toklip.request_id': ctx.requestId, 'toklip.model': model.id, 'toklip.items': images.length },
      () => this.images.preprocessAll(images, preprocessSpec(model), { signal: ctx.signal }),
    );
    const ms = performance.now() - started;
    this.metrics?.preprocessTime.observe({ operation }, ms / 1000);
    return { images: preprocessed, ms };
  }

  /** Images (only those to compute) -> ids. */
  private async computeTokenize(model: ModelBundle, images: readonly Uint8Array[], ctx: RequestContext): Promise<Computed<TokenizedImage>> {
    const stages = this.scheduler.stages(model, ['vq_encoder']);
    const pre = await this.preprocess(model, images, stages, ctx, 'tokenize');
    this.admission.admitItems(model.id, stages, pre.images.length, ctx);
    const ids = await this.scheduler.tokenize(model, pre.images.map((i) => i.rgb), ctx);
    return computed(ids, ids.value.map((row, i) => ({ ids: row, source: pre.images[i]!.source })), pre.ms);
  }

  private cachedEncodeImages(model: ModelBundle, images: readonly Uint8Array[], features: boolean, ctx: RequestContext): Promise<Through<EncodedImageResult>> {
    return this.cache.through(
      {
        operation: 'encode_image',
        model,
        variant: features ? 'features' : '',
        inputs: images,
        content: (image) => image,
        codec: ENCODED_IMAGE,
        compute: (missing) => this.computeEncodeImages(model, missing, features, ctx),
      },
      ctx,
    );
  }

  private async computeEncodeImages(model: ModelBundle, images: readonly Uint8Array[], features: boolean, ctx: RequestContext): Promise<Computed<EncodedImageResult>> {
    const stages = this.scheduler.stages(model, ENCODE_IMAGE_GRAPHS);
    const pre = await this.preprocess(model, images, stages, ctx, 'encode_image');
    this.admission.admitItems(model.id, stages, pre.images.length, ctx);
    const encoded = await this.scheduler.encodeImages(model, pre.images.map((i) => i.rgb), features, ctx);
    return computed(encoded, encoded.value.map((e, i) => ({ ...e, source: pre.images[i]!.source })), pre.ms);
  }

  private cachedEncodeTokens(model: ModelBundle, rows: readonly Uint32Array[], features: boolean, ctx: RequestContext): Promise<Through<SemanticOutput>> {
    return this.cache.through(
      {
        operation: 'encode_tokens',
        model,
        variant: features ? 'features' : '',
        inputs: rows,
        content: idsContent,
        codec: SEMANTIC_OUTPUT,
        compute: async (missing) => {
          this.admission.admitItems(model.id, this.scheduler.stages(model, ['semantic_encoder']), missing.length, ctx);
          const encoded = await this.scheduler.encodeTokens(model, missing, features, ctx);
          return computed(encoded, encoded.value);
        },
      },
      ctx,
    );
  }

  /** Texts (already tokenized, for their checks and counts) -> embeddings, each cached by its text. */
  private async cachedEncodeTexts(model: ModelBundle, texts: readonly string[], tokenized: readonly TokenizedText[], ctx: RequestContext): Promise<Through<EncodedText>> {
    const through = await this.cache.through(
      {
        operation: 'encode_text',
        model,
        variant: '',
        inputs: texts.map((text, row) => ({ text, tokenized: tokenized[row]! })),
        content: (item) => item.text,
        codec: TEXT_EMBEDDING,
        compute: async (missing) => {
          this.admission.admitItems(model.id, this.scheduler.stages(model, ['text_encoder']), missing.length, ctx);
          const encoded = await this.scheduler.encodeTexts(model, missing.map((item) => item.tokenized.ids), ctx);
          return computed(encoded, encoded.value);
        },
      },
      ctx,
    );
    return {
      ...through,
      values: through.values.map((embedding, i) => ({ embedding, tokenCount: tokenized[i]!.tokenCount, unknownWords: tokenized[i]!.unknownWords })),
    };
  }

  private async computeDecode(
    model: ModelBundle,
    rows: readonly Uint32Array[],
    format: ReconstructionFormat,
    quality: number,
    ctx: RequestContext,
  ): Promise<Computed<EncodedImage>> {
    const stages = this.scheduler.stages(model, ['vq_decoder']);
    this.admission.admitItems(model.id, stages, rows.length, ctx);
    const pixels = await this.scheduler.decode(model, rows, ctx);
    const files = await Promise.all(pixels.value.map((rgb) => encodeRgb(rgb, model.imageSize, format, quality)));
    return computed(pixels, files);
  }
}

/** Computed items: `values` with the queue and worker times of the scheduler's answer, and the preprocessing time when images were preprocessed. */
function computed<V>(run: Timed<unknown>, values: readonly V[], preprocessMs?: number): Computed<V> {
  return { values, timings: { ...(preprocessMs !== undefined ? { preprocessMs } : {}), queueMs: run.queueMs, inferenceMs: run.inferenceMs } };
}

const ENCODE_IMAGE_GRAPHS: readonly GraphName[] = ['vq_encoder', 'semantic_encoder'];
