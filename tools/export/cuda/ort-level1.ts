// The graph as a CUDA session of onnxruntime partitions it: onnxruntime applies its level-1
// optimizations (constant folding, Constant nodes as initializers, shape-subgraph fusions such as
// ReshapeFusion, common subexpressions) before it asks the execution providers which nodes they
// take. onnxruntime-node (CPU) runs exactly those passes here and saves the result.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { readModel, type OnnxModel } from './onnx-model.js';

/**
 * A CPU session inserts Cast nodes around float16 nodes that have no float16 CPU kernel (after
 * partitioning, so a CUDA session has none of them); they are named with this prefix.
 */
const CPU_CAST_PREFIX = 'InsertedPrecisionFreeCast_';

/** Removes the CPU session's inserted Casts, reconnecting their consumers to their inputs. */
export function withoutCpuCasts(model: OnnxModel): OnnxModel {
  const alias = new Map<string, string>();
  for (const node of model.nodes) {
    if (node.opType === 'Cast' && node.name.startsWith(CPU_CAST_PREFIX)) alias.set(node.outputs[0]!, node.inputs[0]!);
  }
  if (alias.size === 0) return model;
  const resolve = (name: string): string => {
    let current = name;
    while (alias.has(current)) current = alias.get(current)!;
    return current;
  };
  const nodes = model.nodes
    .filter((node) => !(node.opType === 'Cast' && node.name.startsWith(CPU_CAST_PREFIX)))
    .map((node) => ({ ...node, inputs: node.inputs.map((name) => (name === '' ? '' : resolve(name))) }));
  // A graph output produced through a removed Cast: the producer's output takes the output's name.
  const rename = new Map(model.outputs.filter((o) => alias.has(o.name)).map((o) => [resolve(o.name), o.name]));
  const renamed = nodes.map((node) => ({
    ...node,
    inputs: node.inputs.map((name) => rename.get(name) ?? name),
    outputs: node.outputs.map((name) => rename.get(name) ?? name),
  }));
  return { ...model, nodes: renamed };
}

/** The graph after onnxruntime's level-1 ("basic") optimizations, without CPU-only artefacts. */
export async function levelOneModel(graphPath: string): Promise<OnnxModel> {
  const dir = mkdtempSync(join(tmpdir(), 'toklip-cuda-coverage-'));
  try {
    const optimized = join(dir, 'level1.onnx');
    const session = await ort.InferenceSession.create(graphPath, {
      graphOptimizationLevel: 'basic',
      optimizedModelFilePath: optimized,
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 3,
      // Weights go to a side file, so full-size graphs stay under protobuf's 2 GiB.
      extra: {
        session: {
          optimized_model_external_initializers_file_name: 'level1.onnx.data',
          optimized_model_external_initializers_min_size_in_bytes: '4096',
        },
      },
    });
    await session.release();
    return withoutCpuCasts(readModel(optimized));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
