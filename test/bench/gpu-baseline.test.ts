/**
 * The GPU baseline script (bench/python/gpu_baseline.py, run by bench/gpu-baseline.sh on a GPU
 * host), at tiny size on the CPU: every path is timed at each batch size, its FLOPs per image
 * are those the ONNX FLOP counter finds in the tiny fixture's graphs (same networks), the peak
 * fractions follow from them, and the report files are written. Skipped where python3 with torch
 * and onnx is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readBundle } from '../../bench/lib/bundle.js';

const PYTHON = '/usr/bin/python3';
const skip = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { stdio: 'ignore' }).status === 0 ? false : 'python3 with torch, onnx and numpy not found';
const repo = fileURLToPath(new URL('../../', import.meta.url));
const tiny = readBundle(join(repo, 'test/fixtures/bundles/tiny-64'));

interface Run {
  preset: string;
  dtype: string;
  path: string;
  batch: number;
  flopsPerItem: number;
  itemsPerSecond?: number;
  achievedTflops?: number;
  fractionOfPeak?: number | null;
  fractionOfGemm?: number;
}

function onnxFlops(graph: 'vq_encoder' | 'semantic_encoder' | 'vq_decoder'): number {
  const run = spawnSync(PYTHON, [join(repo, 'bench/python/onnx_tools.py'), 'flops', tiny.graphPaths[graph]!, '--dim', 'batch=1', '--dim', `tokens=${tiny.numTokens}`], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const [count] = JSON.parse(run.stdout) as [{ flops: number; unresolved: string[] }];
  assert.deepEqual(count.unresolved, []);
  return count.flops;
}

test('GPU baseline at tiny size on the CPU: every path and batch timed, FLOPs as in the graphs, peak fractions, report', { skip, timeout: 300_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'toklip-gpu-baseline-'));
  try {
    const run = spawnSync(join(repo, 'tools/python'), [
      join(repo, 'bench/python/gpu_baseline.py'), '--device', 'cpu', '--tiny', '--dtypes', 'bfloat16', '--batches', '1,2',
      '--target-seconds', '0.01', '--max-iterations', '3', '--gemm-size', '128', '--peak-tflops', '2', '--out', out,
    ], { encoding: 'utf8', cwd: repo });
    assert.equal(run.status, 0, run.stderr);
    const printed = JSON.parse(run.stdout.trim().split('\n').pop()!) as { runs: Run[]; denseFp16PeakTflops: number; gemmTflops: number };
    const saved = JSON.parse(readFileSync(join(out, 'gpu-baseline.json'), 'utf8')) as typeof printed;
    assert.deepEqual(saved.runs.map((r) => [r.path, r.batch]), printed.runs.map((r) => [r.path, r.batch]));

    const paths = ['image_to_ids', 'ids_to_embedding', 'image_to_ids_embedding', 'ids_to_image'];
    assert.deepEqual(printed.runs.map((r) => `${r.preset} ${r.dtype} ${r.path} ${r.batch}`),
      paths.flatMap((p) => [1, 2].map((b) => `tiny-64 bfloat16 ${p} ${b}`)));
    for (const r of printed.runs) {
      assert.ok(r.itemsPerSecond! > 0, `${r.path} b=${r.batch}`);
      assert.ok(Math.abs(r.achievedTflops! - (r.flopsPerItem * r.itemsPerSecond!) / 1e12) < 1e-12);
      assert.ok(Math.abs(r.fractionOfPeak! - r.achievedTflops! / 2) < 1e-12);
      assert.ok(Math.abs(r.fractionOfGemm! - r.achievedTflops! / printed.gemmTflops) < 1e-12);
    }
    const flops = Object.fromEntries(printed.runs.map((r) => [r.path, r.flopsPerItem]));
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * b;
    assert.ok(close(flops.image_to_ids!, onnxFlops('vq_encoder')), `image_to_ids ${flops.image_to_ids} vs vq_encoder graph ${onnxFlops('vq_encoder')}`);
    assert.ok(close(flops.ids_to_embedding!, onnxFlops('semantic_encoder')), `ids_to_embedding ${flops.ids_to_embedding} vs semantic_encoder graph`);
    assert.ok(close(flops.ids_to_image!, onnxFlops('vq_decoder')), `ids_to_image ${flops.ids_to_image} vs vq_decoder graph`);
    assert.ok(close(flops.image_to_ids_embedding!, flops.image_to_ids! + flops.ids_to_embedding!));

    const table = readFileSync(join(out, 'gpu-baseline.md'), 'utf8');
    for (const p of paths) assert.match(table, new RegExp(`^\\| tiny-64 \\| bfloat16 \\| ${p} \\| [\\d.]+ \\| [\\d.]+ \\| [12] \\| [\\d.]+ \\| [\\d.]+ \\|$`, 'm'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
