/**
 * A fixed pool of worker threads that run preprocessImage(), so that decoding and resampling
 * never run on the event loop (cf. the tokenization workers of text-embeddings-inference).
 * Backed by piscina. Running tasks are never aborted (that would terminate a worker in the
 * middle of a native decode): a caller that gives up just stops waiting, and the bounded task
 * finishes in the background.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { ServiceError } from '../errors.js';
import { DEFAULT_IMAGE_LIMITS, validateImageLimits } from './limits.js';
import { validatePreprocessSpec } from './preprocess.js';
import { configureImageRuntime } from './runtime.js';
import type { ImageLimits, PreprocessedImage, PreprocessSpec } from './types.js';
import type { PreprocessOutcome, PreprocessTask, WorkerInit } from './worker-protocol.js';

export interface ImagePreprocessorOptions {
  /** Worker threads. Default: min(4, available parallelism). */
  readonly threads?: number;
  /** Tasks in flight per worker: >1 overlaps one task's decode with another's resampling. */
  readonly tasksPerThread?: number;
  /** libvips threads per image pipeline (process-wide). Default 1. */
  readonly vipsThreads?: number;
  readonly limits?: ImageLimits;
}

export interface ImagePreprocessor {
  /** Rejects with a ServiceError (invalid_image, unsupported_image_format, image_too_large...). */
  preprocess(bytes: Uint8Array, spec: PreprocessSpec): Promise<PreprocessedImage>;
  /** Images waiting for a worker (for metrics). */
  readonly queued: number;
  readonly threads: number;
  readonly limits: ImageLimits;
  /** Lets running tasks finish, then stops the workers. */
  close(): Promise<void>;
}

export function defaultImageThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** Source-tree runs start workers through the .mjs bootstrap; the compiled tree directly. */
function workerFilename(): string {
  const fromSources = import.meta.url.endsWith('.ts');
  return fileURLToPath(new URL(fromSources ? './preprocess-worker.mjs' : './preprocess-worker.js', import.meta.url));
}

export function createImagePreprocessor(options: ImagePreprocessorOptions = {}): ImagePreprocessor {
  const threads = options.threads ?? defaultImageThreads();
  const tasksPerThread = options.tasksPerThread ?? 2;
  const vipsThreads = options.vipsThreads ?? 1;
  const limits = options.limits ?? DEFAULT_IMAGE_LIMITS;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  if (!Number.isInteger(tasksPerThread) || tasksPerThread < 1) {
    throw new RangeError(`tasksPerThread must be a positive integer, got ${tasksPerThread}`);
  }
  const problems = validateImageLimits(limits);
  if (problems.length > 0) throw new RangeError(problems.join('; '));
  configureImageRuntime({ threads: vipsThreads });

  const init: WorkerInit = { vipsThreads };
  const pool = new Piscina<PreprocessTask, PreprocessOutcome>({
    filename: workerFilename(),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: tasksPerThread,
    workerData: init,
  });

  return {
    async preprocess(bytes, spec) {
      const specProblems = validatePreprocessSpec(spec);
      if (specProblems.length > 0) throw new Error(`unsupported preprocessing spec: ${specProblems.join('; ')}`);
      // Cloning a view would copy its whole backing buffer (e.g. a full request body): hand the
      // worker its own tight copy and transfer it.
      const own = new Uint8Array(bytes);
      const outcome = await pool.run({ bytes: own, spec, limits }, { transferList: [own.buffer] });
      if (outcome.ok) return outcome.image;
      throw new ServiceError(outcome.code, outcome.detail, { extensions: outcome.extensions });
    },
    get queued() {
      return pool.queueSize;
    },
    threads,
    limits,
    async close() {
      await pool.close();
    },
  };
}
