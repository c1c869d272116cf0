/** A test inference worker: the production worker runtime, its sessions wrapped to obey WorkerFaults. */
import { basename } from 'node:path';
import { workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { WorkerData } from '../../src/inference/protocol.js';
import { type GraphSession, type SessionFactory, createOrtSession } from '../../src/inference/sessions.js';
import { runInferenceWorker } from '../../src/inference/worker-runtime.js';
import { GRAPH_NAMES, type GraphName } from '../../src/models/manifest.js';
import { takeFault } from './worker-faults.js';

const flags = new Int32Array((workerData as WorkerData).entryData as SharedArrayBuffer);

const faultySessions: SessionFactory = async (path, options) => {
  const session = await createOrtSession(path, options);
  const graph = GRAPH_NAMES.find((g) => basename(path) === `${g}.onnx`) as GraphName;
  const wrapped: GraphSession = {
    get inputMetadata() {
      return session.inputMetadata;
    },
    get outputMetadata() {
      return session.outputMetadata;
    },
    get outputNames() {
      return session.outputNames;
    },
    release: () => session.release(),
    run: ((feeds: Record<string, ort.Tensor>, fetches: string[]) => {
      if (takeFault(flags, 'crash')) process.exit(70);
      if (takeFault(flags, graph)) {
        feeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data as Float32Array, [...t.dims, 1])]));
      }
      return session.run(feeds, fetches);
    }) as GraphSession['run'],
  };
  return wrapped;
};

void runInferenceWorker(faultySessions);
