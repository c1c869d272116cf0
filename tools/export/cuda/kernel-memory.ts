// Inputs that onnxruntime's CUDA kernels read from host memory and outputs they write there
// (KernelDefBuilder().InputMemoryType / OutputMemoryType(OrtMemTypeCPUInput, i) in the kernel
// registrations). OperatorKernels.md does not list them; they come from the sources of the same
// onnxruntime commit as ort-cuda-kernels.json (files under onnxruntime/core/providers/cuda/,
// named per entry). Shapes, axes, pads and sizes stay on the host; so does Shape's output.
// Ops of the ai.onnx domain only: no contrib op is placed by these rules in the checked graphs.

export interface MemoryRule {
  /** Opset versions the registration covers (inclusive; null: open-ended). */
  since: number;
  until: number | null;
  cpuInputs: number[];
  cpuOutputs: number[];
  file: string;
}

const rule = (since: number, until: number | null, cpuInputs: number[], cpuOutputs: number[], file: string): MemoryRule =>
  ({ since, until, cpuInputs, cpuOutputs, file });

const REDUCTIONS_18 = ['ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare'];

export const CUDA_MEMORY_RULES: Record<string, MemoryRule[]> = {
  Shape: [rule(1, null, [], [0], 'tensor/shape_op.cc')],
  Size: [rule(1, null, [], [0], 'tensor/size.cc')],
  Reshape: [rule(5, null, [1], [], 'tensor/reshape.cc')],
  Slice: [rule(10, null, [1, 2, 3, 4], [], 'tensor/slice.cc')],
  Resize: [rule(10, 10, [1], [], 'tensor/resize.cc'), rule(11, null, [1, 2, 3], [], 'tensor/resize.cc')],
  Upsample: [rule(7, 9, [1], [], 'tensor/upsample.cc')],
  Pad: [rule(11, 17, [1, 2], [], 'tensor/pad.cc'), rule(18, null, [1, 2, 3], [], 'tensor/pad.cc')],
  Unsqueeze: [rule(13, null, [1], [], 'tensor/unsqueeze.cc')],
  Squeeze: [rule(13, null, [1], [], 'tensor/squeeze.cc')],
  Expand: [rule(8, null, [1], [], 'tensor/expand.cc')],
  Tile: [rule(6, null, [1], [], 'tensor/tile.cc')],
  Split: [rule(13, null, [1], [], 'tensor/split.cc')],
  ConstantOfShape: [rule(9, null, [0], [], 'generator/constant_of_shape.cc')],
  Range: [rule(11, null, [0, 1, 2], [], 'generator/range.cc')],
  Trilu: [rule(14, null, [1], [], 'tensor/trilu.cc')],
  Dropout: [rule(12, null, [1, 2], [], 'nn/dropout.cc')],
  CumSum: [rule(11, null, [1], [], 'math/cumsum.cc')],
  TopK: [rule(10, null, [1], [], 'math/topk.cc')],
  OneHot: [rule(11, null, [1, 2], [], 'tensor/onehot.cc')],
  ReduceSum: [rule(13, null, [1], [], 'reduction/reduction_ops.cc')],
  ...Object.fromEntries(REDUCTIONS_18.map((op) => [op, [rule(18, null, [1], [], 'reduction/reduction_ops.cc')]])),
};

export interface KernelMemory {
  cpuInputs: ReadonlySet<number>;
  cpuOutputs: ReadonlySet<number>;
}

const DEVICE_ONLY: KernelMemory = { cpuInputs: new Set(), cpuOutputs: new Set() };

/** Which inputs and outputs of a CUDA kernel of `op` (ai.onnx, this opset) live in host memory. */
export function kernelMemory(domain: string, op: string, opset: number): KernelMemory {
  if (domain !== 'ai.onnx') return DEVICE_ONLY;
  const match = (CUDA_MEMORY_RULES[op] ?? []).find((r) => r.since <= opset && (r.until === null || opset <= r.until));
  return match ? { cpuInputs: new Set(match.cpuInputs), cpuOutputs: new Set(match.cpuOutputs) } : DEVICE_ONLY;
}
