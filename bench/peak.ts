/**
 * The machine's measured GEMM peak, the reference for "% of peak": large float32 MatMuls in
 * both runtimes at the benchmark's thread count. ONNX Runtime runs a one-node MatMul graph of
 * two inputs (bench/python/onnx_tools.py matmul) and chains of MatMuls with constant weights
 * (onnx_tools.py matmul-chain: weights pre-packed once, as the networks' weights are), with the
 * service's session options; PyTorch runs torch.matmul on the same shapes
 * (bench/python/torch_bench.py peak). Peak = the best of all points.
 *
 *   npm run bench:peak -- [--threads 2] [--sizes 1024,2048,4096] [--chains 4096x1152x8,2048x2048x4]
 *                         [--target-seconds 3] [--repeat 1]
 *
 * On a shared machine a single sweep catches whatever else runs at that moment; --repeat
 * sweeps again (the runtimes interleaved) and the peak is the best point of all sweeps.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { sessionOptions } from '../src/inference/sessions.js';
import { DEFAULT_OUT, PYTHON, REPO_ROOT, Run, TOOLS_PYTHON, fmt, formatTable, intList } from './lib/common.js';

export interface PeakPoint {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  /** Chains: MatMuls in a row ([M,K] x [K,K] each); absent for a single MatMul. */
  readonly depth?: number;
  /** 'input': both matrices are inputs of the call; 'constant': weights of the graph / module. */
  readonly weights?: 'input' | 'constant';
  readonly iterations: number;
  readonly medianMs: number;
  readonly gflopsPerSecond: number;
  /** Per second of process CPU time (all threads): robust to other processes sharing the cores. */
  readonly gflopsPerCpuSecond: number;
}

export interface RuntimePeak {
  readonly points: readonly PeakPoint[];
  readonly best: PeakPoint;
}

export interface PeakResults {
  readonly threads: number;
  readonly ort: RuntimePeak;
  readonly torch: RuntimePeak & { readonly version: string; readonly blas: readonly string[] };
  /** max(ort, torch): the reference for "% of peak". */
  readonly peakGflopsPerSecond: number;
  /** The same per CPU-second: the reference for "% of peak" in CPU time. */
  readonly peakGflopsPerCpuSecond: number;
}

/** [M,K] x [K,N] shapes: square sizes plus the ViT MLP shape (576 tokens x 8 images, 1152 -> 4304). */
export function shapes(sizes: readonly number[]): [number, number, number][] {
  return [...sizes.map((s) => [s, s, s] as [number, number, number]), [4608, 1152, 4304]];
}

async function timeRuns(run: () => Promise<unknown>, flops: number, targetSeconds: number): Promise<Pick<PeakPoint, 'iterations' | 'medianMs' | 'gflopsPerSecond' | 'gflopsPerCpuSecond'>> {
  await run();
  const times: number[] = [];
  let spent = 0;
  const cpu0 = process.cpuUsage();
  do {
    const t0 = performance.now();
    await run();
    const ms = performance.now() - t0;
    times.push(ms);
    spent += ms;
  } while (spent < targetSeconds * 1000 && times.length < 50);
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / times.length;
  const medianMs = [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)]!;
  return { iterations: times.length, medianMs, gflopsPerSecond: flops / (medianMs * 1e6), gflopsPerCpuSecond: flops / (cpuMs * 1e6) };
}

/** [M, K, depth]: X[M,K] through `depth` MatMuls with [K,K] weights. */
export function chains(text: string): [number, number, number][] {
  return text
    .split(',')
    .filter(Boolean)
    .map((c) => {
      const [m, k, d] = c.split('x').map(Number) as [number, number, number];
      if (![m, k, d].every((v) => Number.isInteger(v) && v > 0)) throw new Error(`--chains takes MxKxDEPTH, not ${c}`);
      return [m, k, d];
    });
}

async function ortPeak(threads: number, sizes: readonly number[], chainShapes: readonly [number, number, number][], targetSeconds: number): Promise<RuntimePeak> {
  const dir = join(REPO_ROOT, 'bench', 'results', 'tmp');
  mkdirSync(dir, { recursive: true });
  const options = sessionOptions('cpu', 0, threads);
  const model = join(dir, 'matmul.onnx');
  if (!existsSync(model)) execFileSync(PYTHON, [join(REPO_ROOT, 'bench', 'python', 'onnx_tools.py'), 'matmul', model]);
  const session = await ort.InferenceSession.create(model, options);
  const points: PeakPoint[] = [];
  for (const [m, k, n] of shapes(sizes)) {
    const a = new Float32Array(m * k).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const b = new Float32Array(k * n).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const feeds = { A: new ort.Tensor('float32', a, [m, k]), B: new ort.Tensor('float32', b, [k, n]) };
    points.push({ m, k, n, weights: 'input', ...(await timeRuns(() => session.run(feeds), 2 * m * k * n, targetSeconds)) });
  }
  await session.release();
  for (const [m, k, depth] of chainShapes) {
    const path = join(dir, `matmul-chain-k${k}-d${depth}.onnx`);
    if (!existsSync(path)) execFileSync(PYTHON, [join(REPO_ROOT, 'bench', 'python', 'onnx_tools.py'), 'matmul-chain', path, '--k', String(k), '--depth', String(depth)]);
    const chain = await ort.InferenceSession.create(path, options);
    const x = new Float32Array(m * k).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const feeds = { X: new ort.Tensor('float32', x, [m, k]) };
    points.push({ m, k, n: k, depth, weights: 'constant', ...(await timeRuns(() => chain.run(feeds), 2 * m * k * k * depth, targetSeconds)) });
    await chain.release();
  }
  return { points, best: points.reduce((x, y) => (y.gflopsPerSecond > x.gflopsPerSecond ? y : x)) };
}

function torchPeak(threads: number, sizes: readonly number[], chainShapes: readonly [number, number, number][], targetSeconds: number): PeakResults['torch'] {
  const out = execFileSync(
    TOOLS_PYTHON,
    [
      join(REPO_ROOT, 'bench', 'python', 'torch_bench.py'),
      'peak',
      '--threads',
      String(threads),
      '--shapes',
      shapes(sizes).map((s) => s.join('x')).join(','),
      '--chains',
      chainShapes.map((c) => c.join('x')).join(','),
      '--target-seconds',
      String(targetSeconds),
    ],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as PeakResults['torch'];
}

/** Runs the sweep `repeat` times (interleaving the runtimes) and keeps every point; the peak is the best one. */
export async function measurePeak(threads: number, sizes: readonly number[], chainShapes: readonly [number, number, number][], targetSeconds: number, repeat = 1): Promise<PeakResults> {
  const ortPoints: PeakPoint[] = [];
  const torchPoints: PeakPoint[] = [];
  let torchInfo: PeakResults['torch'] | undefined;
  for (let i = 0; i < repeat; i++) {
    ortPoints.push(...(await ortPeak(threads, sizes, chainShapes, targetSeconds)).points);
    torchInfo = torchPeak(threads, sizes, chainShapes, targetSeconds);
    torchPoints.push(...torchInfo.points);
  }
  const best = (points: PeakPoint[]) => points.reduce((x, y) => (y.gflopsPerSecond > x.gflopsPerSecond ? y : x));
  const ortResult: RuntimePeak = { points: ortPoints, best: best(ortPoints) };
  const torchResult: PeakResults['torch'] = { ...torchInfo!, points: torchPoints, best: best(torchPoints) };
  return {
    threads,
    ort: ortResult,
    torch: torchResult,
    peakGflopsPerSecond: Math.max(ortResult.best.gflopsPerSecond, torchResult.best.gflopsPerSecond),
    peakGflopsPerCpuSecond: Math.max(...[...ortResult.points, ...torchResult.points].map((x) => x.gflopsPerCpuSecond)),
  };
}

/** "4096x1152x1152" or "4096x1152x1152 x 8 (constant weights)". */
export function shapeLabel(x: PeakPoint, sep = 'x'): string {
  const base = [x.m, x.k, x.n].join(sep);
  return x.depth !== undefined ? `${base}, ${x.depth} MatMuls in a row, constant weights` : base;
}

export function printPeak(p: PeakResults): void {
  console.log(`GEMM peak, float32, ${p.threads} threads (GFLOP/s = 2*M*K*N / median time; per CPU-second: / process CPU time)`);
  const rows = [
    ...p.ort.points.map((x) => ['onnxruntime', shapeLabel(x), x.medianMs, x.gflopsPerSecond, x.gflopsPerCpuSecond] as (string | number)[]),
    ...p.torch.points.map((x) => [`torch ${p.torch.version}`, shapeLabel(x), x.medianMs, x.gflopsPerSecond, x.gflopsPerCpuSecond] as (string | number)[]),
  ];
  console.log(formatTable(['runtime', 'MxKxN', 'ms', 'GFLOP/s', 'GFLOP/CPU-s'], rows));
  console.log(`peak = ${fmt(p.peakGflopsPerSecond)} GFLOP/s, ${fmt(p.peakGflopsPerCpuSecond)} GFLOP per CPU-second`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: '2' },
      sizes: { type: 'string', default: '1024,2048,4096' },
      chains: { type: 'string', default: '4096x1152x8,2048x2048x4' },
      'target-seconds': { type: 'string', default: '3' },
      repeat: { type: 'string', default: '1' },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const settings = { threads: Number(values.threads), sizes: intList(values.sizes), chains: chains(values.chains), targetSeconds: Number(values['target-seconds']), repeat: Number(values.repeat) };
  const run = new Run<PeakResults>('peak', settings);
  const result = await measurePeak(settings.threads, settings.sizes, settings.chains, settings.targetSeconds, settings.repeat);
  printPeak(result);
  run.finish(result, values.out);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
