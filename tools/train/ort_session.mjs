// The onnxruntime-node session options tools/train's scripts share: a fixed thread count (the
// Python side passes torch's), no inter-op pool, warnings off.
import ort from 'onnxruntime-node';

export const openSession = (path, threads = 2) =>
  ort.InferenceSession.create(path, { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
