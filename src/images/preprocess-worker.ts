/**
 * Body of a preprocessing worker thread: decode (sharp, on libuv threads) and resample (this
 * thread), so neither touches the service's event loop. ServiceErrors go back as data.
 */
import { workerData } from 'node:worker_threads';
import { isServiceError } from '../errors.js';
import { lowerThreadPriority } from '../thread-priority.js';
import { preprocessImage } from './preprocess.js';
import { configureImageRuntime } from './runtime.js';
import type { PreprocessOutcome, PreprocessTask, WorkerInit } from './worker-protocol.js';

const init = workerData as WorkerInit | undefined;
configureImageRuntime({ threads: init?.vipsThreads ?? 1, decodersHardenedByParent: init?.decodersHardened === true });
lowerThreadPriority(init?.nice ?? 0);

export default async function runPreprocessTask(task: PreprocessTask): Promise<PreprocessOutcome> {
  try {
    return { ok: true, image: await preprocessImage(task.bytes, task.spec, task.limits) };
  } catch (error) {
    if (isServiceError(error)) {
      return { ok: false, code: error.code, detail: error.message, extensions: { ...error.extensions } };
    }
    throw error;
  }
}
