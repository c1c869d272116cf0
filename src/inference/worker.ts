/**
 * Inference worker (a worker_thread): holds an ONNX Runtime session per (model, graph), runs
 * one batch at a time as the pool asks, and answers with transferred output buffers.
 * session.run() blocks this thread, never the event loop of the HTTP server.
 */
import { parentPort, workerData } from 'node:worker_threads';
// normalize.ts is pure (no sharp): the inference worker must not load libvips.
import { normalizeInto } from '../images/normalize.js';
import { reconstructionToRgb } from '../images/reconstruction.js';
import { lowerThreadPriority } from '../thread-priority.js';
import type { GraphName } from '../models/manifest.js';
import type { FromWorker, LogLevel, OutputTensor, ToWorker, WorkerInit, WorkerModelSpec } from './protocol.js';
import { type LoadedSessions, type PixelNormalizer, closeSessions, loadSessions, runBatch, warmup } from './sessions.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const models = new Map(init.models.map((m) => [m.id, m]));
/** Graphs whose next batch must fail inside ONNX Runtime (test hook). */
const sabotaged = new Set<GraphName>();

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function log(level: LogLevel, msg: string, data?: Record<string, unknown>): void {
  post({ type: 'log', level, msg, ...(data ? { data } : {}) });
}

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

async function main(): Promise<void> {
  let loaded: LoadedSessions;
  try {
    const started = performance.now();
    // Before the sessions exist: ONNX Runtime's intra-op threads inherit this thread's priority.
    lowerThreadPriority(init.nice);
    loaded = await loadSessions(init.models, init.device, init.intraOpThreads, init.intraOpSpinning, log);
    await warmup(loaded, init.models, normalize);
    post({ type: 'ready', provider: loaded.provider, warmupMs: performance.now() - started });
  } catch (error) {
    post({ type: 'init_failed', message: (error as Error).message });
    return;
  }

  // One message at a time, in order: the pool may queue a worker's next batch behind the
  // running one, and nothing may overlap a session.run().
  let previous = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    previous = previous
      .then(() => handle(message, loaded))
      .catch((error: unknown) => log('error', 'inference worker message failed', { err: String(error) }));
  });
}

async function handle(message: ToWorker, loaded: LoadedSessions): Promise<void> {
  switch (message.type) {
    case 'run': {
      const started = performance.now();
      try {
        const model = models.get(message.model);
        if (model === undefined) throw new Error(`unknown model ${message.model}`);
        const invalidRank = sabotaged.delete(message.graph);
        const outputs = await runBatch(loaded, model, message.graph, message.batch, message.input, message.outputs, normalize, { invalidRank });
        if (message.pixelsAsRgb8 && outputs.pixels) outputs.pixels = toRgb8(outputs.pixels, message.batch, model.imageSize);
        const transfer = Object.values(outputs).map((o) => o.data.buffer as ArrayBuffer);
        post({ type: 'result', jobId: message.jobId, outputs, runMs: performance.now() - started }, transfer);
      } catch (error) {
        post({ type: 'run_failed', jobId: message.jobId, message: (error as Error).message });
      }
      break;
    }
    case 'shutdown':
      await closeSessions(loaded);
      port.close();
      break;
    case 'crash':
      if (init.testHooks) process.exit(70);
      break;
    case 'fail_next_run':
      if (init.testHooks) sabotaged.add(message.graph);
      break;
  }
}

void main();
