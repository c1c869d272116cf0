/**
 * ONNX Runtime sessions of one worker: session options, creation on the chosen provider, the
 * check of each session against its manifest tensors, warmup and the batch run itself (fed and
 * fetched by the manifest's tensor names). With worker.ts, the only module that imports
 * onnxruntime-node.
 */
import ort from 'onnxruntime-node';
import { contractProblems } from '../models/graph-contract.js';
import type { GraphName } from '../models/manifest.js';
import type { DeviceChoice } from './device.js';
import type { BatchInput, ExecutionProviderName, GraphIO, OutputTensor, TensorSpec, WorkerModelSpec } from './protocol.js';

/** What a worker needs of a session: ONNX Runtime's InferenceSession, or a wrapper of one. */
export type GraphSession = Pick<ort.InferenceSession, 'run' | 'release' | 'inputMetadata' | 'outputMetadata' | 'outputNames'>;

/** Creates a session from a graph file (ort.InferenceSession.create; a test worker entry may wrap it). */
export type SessionFactory = (path: string, options: ort.InferenceSession.SessionOptions) => Promise<GraphSession>;

export const createOrtSession: SessionFactory = (path, options) => ort.InferenceSession.create(path, options);

/** Builds a graph's float32 input from a batch of uint8 images (normalisation happens here, off the event loop). */
export type PixelNormalizer = (rgb: Uint8Array, batch: number, model: WorkerModelSpec) => Float32Array;

export interface LoadedSessions {
  readonly provider: ExecutionProviderName;
  readonly sessions: ReadonlyMap<string, ReadonlyMap<GraphName, GraphSession>>;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;

/**
 * The options of every session the service creates (exported so that bench/ measures exactly
 * these). `spinning`: intra-op threads busy-wait between parallel sections (ONNX Runtime's
 * default). Fastest for one process alone on the machine; in the service they would burn the
 * cores the event loop, the image workers and the other workers need, so it is off there
 * (TOKLIP_INTRA_OP_SPINNING).
 */
export function sessionOptions(provider: ExecutionProviderName, deviceId: number, threads: number, spinning = true): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId }] : ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}

function declared(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorSpec[] {
  return metadata.map((m) => ({ name: m.name, dtype: m.isTensor ? m.type : 'non-tensor', shape: m.isTensor ? m.shape : [] }));
}

/** A session whose tensors differ from its manifest's (and so from the bundle format) is refused, naming the file and the tensor. */
export function sessionProblems(graph: GraphName, io: GraphIO, session: GraphSession): string[] {
  const file = io.path.split('/').at(-1) ?? io.path;
  return [
    ...contractProblems(graph, 'inputs', declared(session.inputMetadata), file),
    ...contractProblems(graph, 'outputs', declared(session.outputMetadata), file),
  ];
}

async function createAll(
  models: readonly WorkerModelSpec[],
  options: ort.InferenceSession.SessionOptions,
  create: SessionFactory,
): Promise<Map<string, Map<GraphName, GraphSession>>> {
  const all = new Map<string, Map<GraphName, GraphSession>>();
  try {
    for (const model of models) {
      const sessions = new Map<GraphName, GraphSession>();
      all.set(model.id, sessions);
      for (const [graph, io] of Object.entries(model.graphs) as [GraphName, GraphIO][]) {
        const session = await create(io.path, options);
        sessions.set(graph, session);
        const problems = sessionProblems(graph, io, session);
        if (problems.length > 0) throw new Error(`model ${model.id}: ${problems.join('; ')}`);
      }
    }
  } catch (error) {
    await releaseAll(all);
    throw error;
  }
  return all;
}

async function releaseAll(all: Map<string, Map<GraphName, GraphSession>>): Promise<void> {
  for (const sessions of all.values()) for (const s of sessions.values()) await s.release().catch(() => {});
}

/** Creates every session on the chosen provider; a CUDA provider that fails to load falls back to CPU only under TOKLIP_DEVICE=auto. */
export async function loadSessions(
  models: readonly WorkerModelSpec[],
  device: DeviceChoice,
  threads: number,
  spinning: boolean,
  log: Log,
  create: SessionFactory = createOrtSession,
): Promise<LoadedSessions> {
  if (device.provider === 'cpu') return { provider: 'cpu', sessions: await createAll(models, sessionOptions('cpu', 0, threads, spinning), create) };
  try {
    return { provider: 'cuda', sessions: await createAll(models, sessionOptions('cuda', device.deviceId, threads, spinning), create) };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    if (!device.fallbackToCpu) {
      throw new Error(`TOKLIP_DEVICE=${device.deviceId === 0 ? 'cuda' : `cuda:${device.deviceId}`}: the CUDA execution provider did not load: ${reason}`);
    }
    log('warn', 'CUDA execution provider unavailable, falling back to CPU', { reason });
    return { provider: 'cpu', sessions: await createAll(models, sessionOptions('cpu', 0, threads, spinning), create) };
  }
}

export async function closeSessions(loaded: LoadedSessions): Promise<void> {
  await releaseAll(loaded.sessions as Map<string, Map<GraphName, GraphSession>>);
}

function idsTensor(data: Uint32Array | Int32Array, batch: number, rowLength: number): ort.Tensor {
  const wide = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) wide[i] = BigInt(data[i]!);
  return new ort.Tensor('int64', wide, [batch, rowLength]);
}

/** Output as a transferable typed array that owns its whole buffer (int64 ids narrowed to uint32). */
function toOutput(tensor: ort.Tensor): OutputTensor {
  const dims = [...tensor.dims];
  if (tensor.type === 'int64') {
    const wide = tensor.data as BigInt64Array;
    const narrow = new Uint32Array(wide.length);
    for (let i = 0; i < wide.length; i++) narrow[i] = Number(wide[i]!);
    return { data: narrow, dims };
  }
  const data = tensor.data as Float32Array;
  const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
  return { data: owned, dims };
}

export async function runBatch(
  loaded: LoadedSessions,
  model: WorkerModelSpec,
  graph: GraphName,
  batch: number,
  input: BatchInput,
  outputs: readonly string[],
  normalize: PixelNormalizer,
): Promise<Record<string, OutputTensor>> {
  const session = loaded.sessions.get(model.id)?.get(graph);
  const io = model.graphs[graph];
  if (session === undefined || io === undefined) throw new Error(`model ${model.id} has no ${graph} session`);
  const feed =
    input.kind === 'rgb8'
      ? new ort.Tensor('float32', normalize(input.data, batch, model), [batch, 3, model.imageSize, model.imageSize])
      : idsTensor(input.data, batch, input.rowLength);
  const results = await session.run({ [io.inputs[0]!.name]: feed }, [...outputs]);
  const out: Record<string, OutputTensor> = {};
  for (const name of outputs) {
    const tensor = results[name];
    if (tensor === undefined) throw new Error(`${graph}: ONNX Runtime returned no '${name}' output`);
    out[name] = toOutput(tensor);
  }
  return out;
}

/** One batch-1 run per graph with neutral inputs, so the first request pays no allocation. */
export async function warmup(loaded: LoadedSessions, models: readonly WorkerModelSpec[], normalize: PixelNormalizer): Promise<void> {
  for (const model of models) {
    for (const [graph, session] of loaded.sessions.get(model.id) ?? []) {
      const rowLength = graph === 'text_encoder' ? model.textContextLength! : model.numTokens;
      const input: BatchInput =
        graph === 'vq_encoder'
          ? { kind: 'rgb8', data: new Uint8Array(model.imageSize * model.imageSize * 3).fill(128) }
          : { kind: 'ids', data: new Uint32Array(rowLength), rowLength };
      await runBatch(loaded, model, graph, 1, input, session.outputNames, normalize);
    }
  }
}
