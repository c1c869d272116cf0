/**
 * The body of an inference worker (a worker_thread): holds a session per (model, graph), runs
 * one batch at a time as the pool asks, and answers with transferred output buffers.
 * session.run() blocks this thread, never the event loop of the HTTP server. worker.ts starts
 * it with ONNX Runtime's own sessions; a test entry may hand it a factory that wraps them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GraphName } from '../models/manifest.js';
import { lowerThreadPriority } from '../thread-priority.js';
// The codecs are pure (no sharp): the inference worker must not load libvips.
import { normalizeInto } from './codecs/normalize.js';
import { reconstructionToRgb } from './codecs/reconstruction.js';
import type { FromWorker, LogLevel, OutputTensor, ToWorker, WorkerData, WorkerModelSpec } from './protocol.js';
import { type LoadedSessions, type PixelNormalizer, type SessionFactory, closeSessions, loadSessions, runBatch, warmup } from './sessions.js';

/** Batch tensor [batch, 3, R, R] float32 from concatenated R x R x 3 uint8 images. */
const normalize: PixelNormalizer = (rgb: Uint8Array, batch: number, model: WorkerModelSpec) => {
  const perImage = model.imageSize * model.imageSize * 3;
  const out = new Float32Array(batch * perImage);
  for (let i = 0; i < batch; i++) {
    normalizeInto(rgb.subarray(i * perImage, (i + 1) * perImage), model.imageSize, model.mean, model.std, out, i * perImage);
  }
  return out;
};

/** [batch, 3, R, R] float32 decoder output -> [batch, R, R, 3] uint8. */
function toRgb8(pixels: OutputTensor, batch: number, size: number): OutputTensor {
  const per = 3 * size * size;
  const rgb = new Uint8Array(batch * per);
  const floats = pixels.data as Float32Array;
  for (let i = 0; i < batch; i++) rgb.set(reconstructionToRgb(floats.subarray(i * per, (i + 1) * per), size), i * per);
  return { data: rgb, dims: [batch, size, size, 3] };
}

export async function runInferenceWorker(createSession: SessionFactory): Promise<void> {
  const port = parentPort!;
  const { init } = workerData as WorkerData;
  const models = new Map(init.models.map((m) => [m.id, m]));
  const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  const log = (level: LogLevel, msg: string, data?: Record<string, unknown>) => post({ type: 'log', level, msg, ...(data ? { data } : {}) });

  let loaded: LoadedSessions;
  try {
    const started = performance.now();
    // Before the sessions exist: ONNX Runtime's intra-op threads inherit this thread's priority.
    lowerThreadPriority(init.nice);
    loaded = await loadSessions(init.models, init.device, init.intraOpThreads, init.intraOpSpinning, log, createSession);
    await warmup(loaded, init.models, normalize);
    post({ type: 'ready', provider: loaded.provider, warmupMs: performance.now() - started });
  } catch (error) {
    post({ type: 'init_failed', message: (error as Error).message });
    return;
  }

  const run = async (message: Extract<ToWorker, { type: 'run' }>) => {
    const started = performance.now();
    try {
      const model = models.get(message.model);
      if (model === undefined) throw new Error(`unknown model ${message.model}`);
      const outputs = await runBatch(loaded, model, message.graph as GraphName, message.batch, message.input, message.outputs, normalize);
      const pixels = message.pixelsAsRgb8 ? Object.keys(outputs)[0] : undefined;
      if (pixels !== undefined) outputs[pixels] = toRgb8(outputs[pixels]!, message.batch, model.imageSize);
      const transfer = Object.values(outputs).map((o) => o.data.buffer as ArrayBuffer);
      post({ type: 'result', jobId: message.jobId, outputs, runMs: performance.now() - started }, transfer);
    } catch (error) {
      post({ type: 'run_failed', jobId: message.jobId, message: (error as Error).message });
    }
  };

  // One message at a time, in order: the pool may queue a worker's next batch behind the
  // running one, and nothing may overlap a session.run().
  let previous = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    previous = previous
      .then(async () => {
        if (message.type === 'run') return run(message);
        await closeSessions(loaded);
        port.close();
      })
      .catch((error: unknown) => log('error', 'inference worker message failed', { err: String(error) }));
  });
}
