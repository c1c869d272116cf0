/**
 * The in-process mapper: each image is its own engine call (so that a bad image fails alone),
 * and the engine's batchers gather the calls in flight into batches, as they do for HTTP
 * requests. Each call gets its own context: a deadline that only a stuck engine would reach,
 * and the job's signal (SIGINT / SIGTERM) to drop queued work.
 */
import { isServiceError } from '../errors.js';
import { type Engine, type EngineLayout, createRequestContext } from '../engine/index.js';
import type { ModelBundle } from '../models/registry.js';
import { TRANSIENT_CODES } from './image-errors.js';
import { l2Normalize } from '../engine/scores.js';
import type { DatasetModel, ImageMapper, MapOptions, MappedImage } from './mapper.js';

export interface EngineMapperOptions extends MapOptions {
  /** Model id; the engine's default model when absent. */
  readonly model?: string | undefined;
  /** Longest time one image may take, queueing included (a stuck engine, not a slow one). */
  readonly imageTimeoutMs: number;
  /** Most images in the engine's queues (TOKLIP_QUEUE_LIMIT): the window stays below it. */
  readonly queueLimit: number;
  readonly imageThreads: number;
}

/** Tries of an image whose call failed for a transient reason (a worker restarting, a full queue). */
const TRIES = 3;

export function describeBundle(model: ModelBundle, sha256: string, provider: string): DatasetModel {
  const p = model.manifest.preprocessing;
  return {
    id: model.id,
    bundleSha256: sha256,
    imageSize: model.imageSize,
    grid: model.grid,
    numTokens: model.numTokens,
    codebookSize: model.codebookSize,
    embeddingDim: model.embeddingDim,
    preprocessing: { ...p },
    executionProvider: provider,
  };
}

export class EngineMapper implements ImageMapper {
  readonly model: DatasetModel;
  readonly concurrency: number;
  private calls = 0;

  private constructor(
    private readonly engine: Engine,
    private readonly bundle: ModelBundle,
    model: DatasetModel,
    private readonly options: EngineMapperOptions,
    concurrency: number,
  ) {
    this.model = model;
    this.concurrency = concurrency;
  }

  static async create(engine: Engine, layout: EngineLayout, options: EngineMapperOptions): Promise<EngineMapper> {
    const capability = options.embeddings || options.features ? 'encode_image' : 'tokenize';
    const bundle = engine.resolveModel(options.model, capability);
    const model = describeBundle(bundle, bundle.digest, engine.provider);
    // Two full batches per worker in flight (one running, one gathering), plus every image slot busy.
    const wanted = 2 * layout.maxBatch * layout.workers + 4 * options.imageThreads;
    return new EngineMapper(engine, bundle, model, options, Math.max(1, Math.min(wanted, options.queueLimit)));
  }

  async map(bytes: Uint8Array, signal: AbortSignal): Promise<MappedImage> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(bytes, signal);
      } catch (error) {
        if (!(isServiceError(error) && TRANSIENT_CODES.has(error.code) && attempt < TRIES) || signal.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  async close(): Promise<void> {
    // The engine belongs to the caller.
  }

  private async once(bytes: Uint8Array, signal: AbortSignal): Promise<MappedImage> {
    const ctx = createRequestContext({ requestId: `dataset-${++this.calls}`, timeoutMs: this.options.imageTimeoutMs, signal });
    try {
      const model = this.bundle.id;
      if (!this.options.embeddings && !this.options.features) {
        const [image] = (await this.engine.tokenize({ model, images: [bytes] }, ctx)).value;
        return { ids: image!.ids, width: image!.source.orientedWidth, height: image!.source.orientedHeight };
      }
      const [image] = (await this.engine.encodeImages({ model, images: [bytes], features: this.options.features }, ctx)).value;
      return {
        ids: image!.ids,
        width: image!.source.orientedWidth,
        height: image!.source.orientedHeight,
        ...(this.options.embeddings ? { embedding: l2Normalize(image!.embedding) } : {}),
        ...(this.options.features && image!.features ? { features: image!.features } : {}),
      };
    } finally {
      ctx.close();
    }
  }
}
