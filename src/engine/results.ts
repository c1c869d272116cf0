/** What the engine's operations return: values with the model, stage timings and the cache outcome. */
import type { SourceImageInfo } from '../images/index.js';
import type { ModelBundle } from '../models/registry.js';
import type { CacheOutcome, Through } from './cache/index.js';
import type { Scores } from './scores.js';

export interface Timings {
  /** Decoding and preprocessing of the request's images. */
  readonly preprocessMs?: number;
  /** Longest wait of its items for their batches (summed over stages in sequence). */
  readonly queueMs: number;
  /** Worker time of its batches (summed over stages in sequence). */
  readonly inferenceMs: number;
}

export interface Result<T> {
  readonly model: ModelBundle;
  readonly value: T;
  readonly timings: Timings;
  /** Items answered from the result cache and items computed; absent when caching is off. */
  readonly cache?: CacheOutcome;
}

/** An image as it was read (before preprocessing). */
export interface ImageSource {
  readonly source: SourceImageInfo;
}

export interface TokenizedImage extends ImageSource {
  readonly ids: Uint32Array;
}

export interface EncodedImageResult extends ImageSource {
  readonly ids: Uint32Array;
  /** [D], not normalised. */
  readonly embedding: Float32Array;
  /** [N * D] row-major, when asked for. */
  readonly features: Float32Array | undefined;
}

export interface EncodedText {
  /** [D], not normalised. */
  readonly embedding: Float32Array;
  readonly tokenCount: number;
  readonly unknownWords: readonly string[];
}

export interface SimilarityResult extends Scores {
  /** Per text. */
  readonly unknownWords: readonly (readonly string[])[];
}

/** An operation's result from its items: timings of the computing done, and the cache outcome when caching is on. */
export function result<V>(model: ModelBundle, through: Through<V>, options: { preprocessed?: boolean } = {}): Result<V[]> {
  const { timings, outcome } = through;
  return {
    model,
    value: through.values,
    // An operation on images reports its preprocessing time even when every image came from the cache.
    timings: options.preprocessed ? { ...timings, preprocessMs: timings.preprocessMs ?? 0 } : timings,
    ...(outcome !== undefined ? { cache: outcome } : {}),
  };
}

