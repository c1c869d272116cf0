/**
 * Messages between the pool (main thread) and an inference worker. Tensor data travels as
 * transferred ArrayBuffers, never copied. ids travel as uint32/int32 (the graphs take int64;
 * the worker widens them) so that the event loop never touches BigInt.
 */
import type { DeviceConfig } from '../config/schema.js';
import type { GraphName } from '../models/manifest.js';

export interface WorkerModelSpec {
  readonly id: string;
  readonly graphPaths: Readonly<Partial<Record<GraphName, string>>>;
  readonly imageSize: number;
  readonly numTokens: number;
  readonly textContextLength: number | undefined;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface WorkerInit {
  readonly workerIndex: number;
  readonly models: readonly WorkerModelSpec[];
  readonly device: DeviceConfig;
  readonly intraOpThreads: number;
  /** ONNX Runtime's session.intra_op.allow_spinning. */
  readonly intraOpSpinning: boolean;
  /** Niceness this worker adds to its own thread before it creates its sessions (their threads inherit it). */
  readonly nice: number;
  /** Enables the `crash` and `fail_next_run` messages (tests of worker replacement and ORT failures). */
  readonly testHooks: boolean;
}

export type ExecutionProviderName = 'cpu' | 'cuda';

/** Input of one batch: R x R x 3 uint8 images (HWC, concatenated) or id rows of equal length. */
export type BatchInput =
  | { readonly kind: 'rgb8'; readonly data: Uint8Array }
  | { readonly kind: 'ids'; readonly data: Uint32Array | Int32Array; readonly rowLength: number };

export interface RunRequest {
  readonly model: string;
  readonly graph: GraphName;
  readonly batch: number;
  readonly input: BatchInput;
  /** Graph outputs wanted (ORT fetches only these). */
  readonly outputs: readonly string[];
  /** vq_decoder: map `pixels` to R x R x 3 uint8 images here (the spec's mapping), off the event loop. */
  readonly pixelsAsRgb8?: boolean;
}

export interface OutputTensor {
  readonly data: Float32Array | Uint32Array | Uint8Array;
  readonly dims: readonly number[];
}

export interface RunResult {
  readonly outputs: Readonly<Record<string, OutputTensor>>;
  /** Time in the worker: tensor assembly + session.run + output conversion. */
  readonly runMs: number;
}

export type ToWorker =
  | ({ readonly type: 'run'; readonly jobId: number } & RunRequest)
  | { readonly type: 'shutdown' }
  | { readonly type: 'crash' }
  /** Test hook: the next batch of this graph is fed to ONNX Runtime with an invalid rank, so that run() itself fails. */
  | { readonly type: 'fail_next_run'; readonly graph: GraphName };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type FromWorker =
  | { readonly type: 'ready'; readonly provider: ExecutionProviderName; readonly warmupMs: number }
  | { readonly type: 'init_failed'; readonly message: string }
  | ({ readonly type: 'result'; readonly jobId: number } & RunResult)
  | { readonly type: 'run_failed'; readonly jobId: number; readonly message: string }
  | { readonly type: 'log'; readonly level: LogLevel; readonly msg: string; readonly data?: Record<string, unknown> };
