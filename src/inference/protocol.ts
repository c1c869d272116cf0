/**
 * Messages between the pool (main thread) and an inference worker. Tensor data travels as
 * transferred ArrayBuffers, never copied. ids travel as uint32/int32 (the graphs take int64;
 * the worker widens them) so that the event loop never touches BigInt.
 */
import type { GraphName } from '../models/manifest.js';
import type { DeviceChoice } from './device.js';

/** A tensor of a graph as the manifest declares it (checked against the session at load). */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly (number | string)[];
}

/** One graph of a model: its file and the tensors it takes and gives. */
export interface GraphIO {
  readonly path: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface WorkerModelSpec {
  readonly id: string;
  readonly graphs: Readonly<Partial<Record<GraphName, GraphIO>>>;
  readonly imageSize: number;
  readonly numTokens: number;
  readonly textContextLength: number | undefined;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface WorkerInit {
  readonly workerIndex: number;
  readonly models: readonly WorkerModelSpec[];
  /** The provider to use, resolved once in the main thread (device.ts). */
  readonly device: DeviceChoice;
  readonly intraOpThreads: number;
  /** ONNX Runtime's session.intra_op.allow_spinning. */
  readonly intraOpSpinning: boolean;
  /** Niceness this worker adds to its own thread before it creates its sessions (their threads inherit it). */
  readonly nice: number;
}

/** What a worker thread receives as workerData: its init, and whatever its entry script was given. */
export interface WorkerData {
  readonly init: WorkerInit;
  readonly entryData?: unknown;
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
  /** Graph outputs wanted, by name (ONNX Runtime fetches only these). */
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

export type ToWorker = ({ readonly type: 'run'; readonly jobId: number } & RunRequest) | { readonly type: 'shutdown' };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type FromWorker =
  | { readonly type: 'ready'; readonly provider: ExecutionProviderName; readonly warmupMs: number }
  | { readonly type: 'init_failed'; readonly message: string }
  | ({ readonly type: 'result'; readonly jobId: number } & RunResult)
  | { readonly type: 'run_failed'; readonly jobId: number; readonly message: string }
  | { readonly type: 'log'; readonly level: LogLevel; readonly msg: string; readonly data?: Record<string, unknown> };
