/**
 * FLOPs per item (image, token row, text) of a graph, counted over its ONNX MatMul, Gemm and
 * Conv nodes with static shapes (bench/python/onnx_tools.py flops). Cached by file size and
 * mtime under bench/results/tmp, since loading a 2 GB graph takes a while.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PYTHON, REPO_ROOT } from './common.js';

export interface GraphFlops {
  readonly flops: number;
  readonly byOp: Record<string, number>;
  readonly nodes: Record<string, number>;
}

const CACHE = join(REPO_ROOT, 'bench', 'results', 'tmp', 'flops-cache.json');

function readCache(): Record<string, GraphFlops> {
  try {
    return JSON.parse(readFileSync(CACHE, 'utf8')) as Record<string, GraphFlops>;
  } catch {
    return {};
  }
}

/** dims: the graph's dynamic axes at batch 1 (e.g. { batch: 1, tokens: 576 }). */
export function countFlops(path: string, dims: Record<string, number>): GraphFlops {
  const st = statSync(path);
  const key = `${path}:${st.size}:${st.mtimeMs}:${JSON.stringify(dims)}`;
  const cache = readCache();
  const hit = cache[key];
  if (hit) return hit;
  const args = [join(REPO_ROOT, 'bench', 'python', 'onnx_tools.py'), 'flops', path, ...Object.entries(dims).flatMap(([k, v]) => ['--dim', `${k}=${v}`])];
  const [out] = JSON.parse(execFileSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 64 << 20 })) as [
    { flops: number; by_op: Record<string, number>; nodes: Record<string, number>; unresolved: string[] },
  ];
  if (out.unresolved.length > 0) throw new Error(`${path}: shapes unresolved for ${out.unresolved.length} nodes (${out.unresolved.slice(0, 3).join(', ')})`);
  const result = { flops: out.flops, byOp: out.by_op, nodes: out.nodes };
  mkdirSync(join(REPO_ROOT, 'bench', 'results', 'tmp'), { recursive: true });
  writeFileSync(CACHE, JSON.stringify({ ...readCache(), [key]: result }, null, 1));
  return result;
}
