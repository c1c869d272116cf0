/**
 * A fixed pool of worker threads that run preprocessImage(), so that decoding and resampling
 * never run on the event loop (cf. the tokenization workers of text-embeddings-inference).
 * Backed by piscina, with our own FIFO of slots in front (slot-queue.ts): images wait there,
 * where an AbortSignal drops them. Running tasks are never aborted (piscina would terminate the worker
 * in the middle of a native decode); they are bounded and finish in the background.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { ServiceError } from '../errors.js';
import { SlotQueue } from './slot-queue.js';
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
  /** Niceness added to each worker thread, so that the event loop gets a core first. Default 0. */
  readonly nice?: number;
  readonly limits?: ImageLimits;
}

export interface PreprocessOptions {
  /**
   * Aborting drops the image if it is still waiting for a worker (the promise rejects with the
   * signal's reason); an image already being decoded finishes and its result is discarded.
   */
  readonly signal?: AbortSignal;
}

export interface ImagePreprocessor {
  /** Rejects with a ServiceError (invalid_image, unsupported_image_format, image_too_large...). */
  preprocess(bytes: Uint8Array, spec: PreprocessSpec, options?: PreprocessOptions): Promise<PreprocessedImage>;
  /**
   * The images of one request, in parallel, waiting as one group (one abort listener). A failure
   * names its image: `images[row]: ...` with `position: {row}`; the signal's own reason (the
   * request's deadline or its client gone) is passed on as it is.
   */
  preprocessAll(images: readonly Uint8Array[], spec: PreprocessSpec, options?: PreprocessOptions): Promise<PreprocessedImage[]>;
  /** Images waiting for a worker (for metrics). */
  readonly queued: number;
  /** Images being decoded and resampled now. */
  readonly running: number;
  /**
   * Predicted ms until `images` more images would be preprocessed: the images waiting and the
   * new ones, at the measured time per image (moving average of a slot's time per image,
   * shared by the slots); undefined until an image was measured.
   */
  predictWaitMs(images: number): number | undefined;
  readonly threads: number;
  readonly limits: ImageLimits;
  /** Refuses waiting and new images (503 shutting_down), lets running ones finish, stops the workers. */
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
  // Hardens the decoders here, before any worker starts; the workers adopt it.
  configureImageRuntime({ threads: vipsThreads });

  const init: WorkerInit = { vipsThreads, nice: options.nice ?? 0, decodersHardened: true };
  const pool = new Piscina<PreprocessTask, PreprocessOutcome>({
    filename: workerFilename(),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: tasksPerThread,
    workerData: init,
  });

  const slotCount = threads * tasksPerThread;
  const slots = new SlotQueue(slotCount);
  let imageMs = 0;

  /** One image in a slot it already holds. */
  async function run(bytes: Uint8Array, spec: PreprocessSpec): Promise<PreprocessedImage> {
    const started = performance.now();
    try {
      // Cloning a view would copy its whole backing buffer (e.g. a full request body): hand
      // the worker its own tight copy and transfer it.
      const own = new Uint8Array(bytes);
      const outcome = await pool.run({ bytes: own, spec, limits }, { transferList: [own.buffer] });
      if (outcome.ok) return outcome.image;
      throw new ServiceError(outcome.code, outcome.detail, { extensions: outcome.extensions });
    } finally {
      const ms = performance.now() - started;
      imageMs = imageMs === 0 ? ms : 0.8 * imageMs + 0.2 * ms;
      slots.release();
    }
  }

  function checkSpec(spec: PreprocessSpec): void {
    const specProblems = validatePreprocessSpec(spec);
    if (specProblems.length > 0) throw new Error(`unsupported preprocessing spec: ${specProblems.join('; ')}`);
  }

  return {
    async preprocess(bytes, spec, options = {}) {
      checkSpec(spec);
      await slots.acquire(options.signal);
      return run(bytes, spec);
    },
    async preprocessAll(images, spec, options = {}) {
      checkSpec(spec);
      const signal = options.signal;
      const acquired = slots.acquireAll(images.length, signal);
      return Promise.all(
        images.map((bytes, row) =>
          acquired[row]!.then(() => run(bytes, spec)).catch((error: unknown) => {
            // The request's own abort (deadline passed, client gone) is about the request, not this image.
            if (error instanceof ServiceError && error !== signal?.reason) {
              throw new ServiceError(error.code, `images[${row}]: ${error.message}`, {
                extensions: { ...error.extensions, position: { row } },
                cause: error,
              });
            }
            throw error;
          }),
        ),
      );
    },
    predictWaitMs(images) {
      if (imageMs === 0) return undefined;
      return Math.max(((slots.queued + images) * imageMs) / slotCount, imageMs);
    },
    get queued() {
      return slots.queued;
    },
    get running() {
      return slots.running;
    },
    threads,
    limits,
    async close() {
      slots.close(new ServiceError('shutting_down', 'The image preprocessor is shutting down.'));
      await pool.close();
    },
  };
}
