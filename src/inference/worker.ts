/** Entry of an inference worker thread: the worker runtime on ONNX Runtime's own sessions. */
import { runInferenceWorker } from './worker-runtime.js';
import { createOrtSession } from './sessions.js';

void runInferenceWorker(createOrtSession);
