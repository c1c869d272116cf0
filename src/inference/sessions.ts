/**
 * ONNX Runtime sessions of one worker: execution provider choice, session options, warmup and
 * the batch run itself. The only module (with worker.ts) that imports onnxruntime-node.
 */
import ort from 'onnxruntime-node';
import type { DeviceConfig } from '../config/schema.js';
import type { GraphName } from '../models/manifest.js';
import type { BatchInput, ExecutionProviderName, OutputTensor, WorkerModelSpec } from './protocol.js';

type Session = ort.InferenceSession;

/** Builds a graph's float32 input from a batch of uint8 images (normalisation happens here, off the event loop). */
export type PixelNormalizer = (rgb: Uint8Array, batch: number, model: WorkerModelSpec) => Float32Array;

export interface LoadedSessions {
  readonly provider: ExecutionProviderName;
  readonly sessions: ReadonlyMap<string, ReadonlyMap<GraphName, Session>>;
}

type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;

/**
 * The options of every session the service creates (exported so that bench/ measures exactly
 * these). `spinning`: intra-op threads busy-wait between parallel sections (ONNX Runtime's
 * default). Fastest for one process alone on the machine; in the service they would burn the
 * cores the event loop, the image workers and the other workers need, so it is off there
 * (TOKLIP_INTRA_OP_SPINNING).
 */
export function sessionOptions(
  provider: ExecutionProviderName,
  device: DeviceConfig,
  threads: number,
  spinning = true,
): ort.InferenceSession.SessionOptions {
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    provider === 'cuda'
      ? [
          {
            name: 'cuda',
            deviceId: device.deviceId,
            // onnxruntime-node 1.30 forwards only deviceId (the pool warns when these differ from
            // the defaults); they are passed for bindings that read them.
            arenaExtendStrategy: device.cudaArenaExtendStrategy === 'next_power_of_two' ? 0 : 1,
            cudnnConvAlgoSearch: device.cudaCudnnConvAlgoSearch.toUpperCase(),
          } as ort.InferenceSession.ExecutionProviderConfig,
        ]
      : ['cpu'];
  return {
    executionProviders,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  };
}

async function createAll(
  models: readonly WorkerModelSpec[],
  provider: ExecutionProviderName,
  device: DeviceConfig,
  threads: number,
  spinning: boolean,
): Promise<Map<string, Map<GraphName, Session>>> {
  const all = new Map<string, Map<GraphName, Session>>();
  const options = sessionOptions(provider, device, threads, spinning);
  for (const model of models) {
    const sessions = new Map<GraphName, Session>();
    all.set(model.id, sessions);
    for (const [graph, path] of Object.entries(model.graphPaths) as [GraphName, string][]) {
      sessions.set(graph, await ort.InferenceSession.create(path, options));
    }
  }
  return all;
}

async function releaseAll(all: Map<string, Map<GraphName, Session>>): Promise<void> {
  for (const sessions of all.values()) for (const s of sessions.values()) await s.release().catch(() => {});
}

/**
 * Creates every session on the configured device. auto: CUDA when its provider loads, else
 * CPU (logged); cuda: a provider that does not load is an error.
 */
export async function loadSessions(
  models: readonly WorkerModelSpec[],
  device: DeviceConfig,
  threads: number,
  spinning: boolean,
  log: Log,
): Promise<LoadedSessions> {
  if (device.kind === 'cpu') return { provider: 'cpu', sessions: await createAll(models, 'cpu', device, threads, spinning) };
  try {
    return { provider: 'cuda', sessions: await createAll(models, 'cuda', device, threads, spinning) };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    if (device.kind === 'cuda') {
      throw new Error(`TOKLIP_DEVICE=${device.deviceId === 0 ? 'cuda' : `cuda:${device.deviceId}`}: the CUDA execution provider did not load: ${reason}`);
    }
    log('warn', 'CUDA execution provider unavailable, falling back to CPU', { reason });
    return { provider: 'cpu', sessions: await createAll(models, 'cpu', device, threads, spinning) };
  }
}

export async function closeSessions(loaded: LoadedSessions): Promise<void> {
  await releaseAll(loaded.sessions as Map<string, Map<GraphName, Session>>);
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
  testOptions: { invalidRank?: boolean } = {},
): Promise<Record<string, OutputTensor>> {
  const session = loaded.sessions.get(model.id)?.get(graph);
  if (session === undefined) throw new Error(`model ${model.id} has no ${graph} session`);
  const inputName = session.inputNames[0]!;
  let feed =
    input.kind === 'rgb8'
      ? new ort.Tensor('float32', normalize(input.data, batch, model), [batch, 3, model.imageSize, model.imageSize])
      : idsTensor(input.data, batch, input.rowLength);
  // Test hook: the same data with one more axis, which ONNX Runtime refuses in run().
  if (testOptions.invalidRank) feed = new ort.Tensor(feed.type, feed.data as Float32Array, [...feed.dims, 1]);
  const results = await session.run({ [inputName]: feed }, [...outputs]);
  const out: Record<string, OutputTensor> = {};
  for (const name of outputs) out[name] = toOutput(results[name]!);
  return out;
}

/** One batch-1 run per graph with neutral inputs, so the first request pays no allocation. */
export async function warmup(loaded: LoadedSessions, models: readonly WorkerModelSpec[], normalize: PixelNormalizer): Promise<void> {
  for (const model of models) {
    for (const [graph, session] of loaded.sessions.get(model.id) ?? []) {
      const input: BatchInput =
        graph === 'vq_encoder'
          ? { kind: 'rgb8', data: new Uint8Array(model.imageSize * model.imageSize * 3).fill(128) }
          : { kind: 'ids', data: new Uint32Array(graph === 'text_encoder' ? model.textContextLength! : model.numTokens), rowLength: graph === 'text_encoder' ? model.textContextLength! : model.numTokens };
      await runBatch(loaded, model, graph, 1, input, session.outputNames, normalize);
    }
  }
}
