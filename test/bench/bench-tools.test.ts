/**
 * The benchmark's own measuring tools: the FLOP counter over ONNX graphs reproduces the
 * analytic count of the tiny fixture's networks, and the PyTorch baseline gets bit-identical
 * inputs to ONNX Runtime (numpy and JavaScript compute the same hash), and the raw ONNX
 * Runtime job warms up as asked. The python parts are skipped where python3 with onnx / numpy
 * is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { idInput, pixelInput, readBundle, textInput } from '../../bench/lib/bundle.js';
import { runOrtJob } from '../../bench/lib/ort-job.js';
import { jobGraphs } from '../../bench/ort.js';

const PYTHON = '/usr/bin/python3';
const hasOnnx = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;
const skip = hasOnnx ? false : 'python3 with onnx and numpy not found';
const tool = (name: string) => fileURLToPath(new URL(`../../bench/python/${name}`, import.meta.url));
const tiny = readBundle(fileURLToPath(new URL('../fixtures/bundles/tiny-64', import.meta.url)));

function python(args: string[]): string {
  const run = spawnSync(PYTHON, args, { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test('FLOP counter: semantic_encoder of tiny-64 equals 2 x the MACs of its ViT and MAP head', { skip }, () => {
  const m = tiny.manifest as typeof tiny.manifest & {
    architecture: { vision: { width: number; depth: number; mlp_hidden: number; pool_mlp_hidden: number } };
  };
  const { width: d, depth, mlp_hidden: h, pool_mlp_hidden: p } = m.architecture.vision;
  const n = tiny.numTokens;
  // per block: qkv, scores, scores x V, proj, fc1, fc2; head: kv over the tokens, one query's
  // scores and values, proj, MLP (the query projection is a constant of the graph)
  const block = n * d * 3 * d + 2 * n * n * d + n * d * d + 2 * n * d * h;
  const head = n * d * 2 * d + 2 * n * d + d * d + 2 * d * p;
  const [count] = JSON.parse(python([tool('onnx_tools.py'), 'flops', tiny.graphPaths.semantic_encoder!, '--dim', 'batch=1', '--dim', `tokens=${n}`])) as [
    { flops: number; unresolved: string[] },
  ];
  assert.deepEqual(count.unresolved, []);
  assert.equal(count.flops, 2 * (depth * block + head));
});

test('FLOP counter: every MatMul and Conv of every tiny-64 graph gets static shapes', { skip }, () => {
  const counts = JSON.parse(python([tool('onnx_tools.py'), 'flops', ...tiny.graphs.map((g) => tiny.graphPaths[g]!), '--dim', 'batch=1', '--dim', `tokens=${tiny.numTokens}`])) as {
    flops: number;
    unresolved: string[];
  }[];
  for (const c of counts) {
    assert.deepEqual(c.unresolved, []);
    assert.ok(c.flops > 0);
  }
});

test('inputs: numpy (PyTorch baseline) and JavaScript (ONNX Runtime) produce the same bytes', { skip }, () => {
  const sha = (data: ArrayBufferView) => createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
  const py = (...args: (string | number)[]) => python([tool('inputs.py'), 'sha256', ...args.map(String)]);
  assert.equal(sha(pixelInput(2, 64)), py('pixels', 2, 64));
  assert.equal(sha(idInput(3, 576, 16384)), py('ids', 3, 576, 16384));
  assert.equal(sha(textInput(2, 64, 256000)), py('text', 2, 64, 256000));
});

test('raw ORT job: warm-up per graph makes one untimed run per graph, then times every batch size', async () => {
  const graphs = jobGraphs(tiny, ['semantic_encoder', 'text_encoder']);
  const result = await runOrtJob({ bundleDir: tiny.dir, graphs, batches: [1, 2, 4], threads: 1, targetSeconds: 0, maxIterations: 1, warmup: 'graph' });
  assert.deepEqual(result.skipped, []);
  for (const g of ['semantic_encoder', 'text_encoder']) {
    const runs = result.runs.filter((r) => r.graph === g);
    assert.deepEqual(runs.map((r) => r.batch), [1, 2, 4]);
    assert.deepEqual(runs.map((r) => r.firstMs !== null), [true, false, false]);
    assert.deepEqual(runs.map((r) => r.iterations), [1, 1, 1]);
  }
});

test('raw ORT job: a point predicted over the cap is left out, with its prediction', async () => {
  const graphs = jobGraphs(tiny, ['vq_decoder']);
  const result = await runOrtJob({ bundleDir: tiny.dir, graphs, batches: [1, 4], threads: 1, targetSeconds: 0, maxIterations: 1, maxPointSeconds: 1e-9 });
  assert.deepEqual(result.runs.map((r) => r.batch), [1]);
  assert.equal(result.skipped.length, 1);
  assert.equal(result.skipped[0]!.batch, 4);
  // warm-up per point (the default): two runs of four times the per-item time of batch 1
  assert.ok(Math.abs(result.skipped[0]!.predictedSeconds - (result.runs[0]!.medianMs * 4 * 2) / 1000) < 1e-9);
});
