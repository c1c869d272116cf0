/** Messages between the preprocessor pool and its workers (structured-clone friendly). */
import type { ErrorCode } from '../errors.js';
import type { ImageLimits, PreprocessedImage, PreprocessSpec } from './types.js';

export interface PreprocessTask {
  readonly bytes: Uint8Array;
  readonly spec: PreprocessSpec;
  readonly limits: ImageLimits;
}

/** Errors cross the thread boundary as data: a cloned Error loses its class and fields. */
export type PreprocessOutcome =
  | { readonly ok: true; readonly image: PreprocessedImage }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      readonly detail: string;
      readonly extensions: Record<string, unknown>;
    };

export interface WorkerInit {
  /** libvips threads per pipeline, applied in every worker. */
  readonly vipsThreads: number;
  /** Niceness each worker adds to its own thread (src/thread-priority.ts). */
  readonly nice: number;
  /** The pool's thread hardened the decoders before starting the workers (runtime.ts). */
  readonly decodersHardened: boolean;
}
