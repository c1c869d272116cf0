/**
 * Tuning experiments: each one measures the service's current choice against alternatives in
 * the same run, and writes tune-<experiment>.json.
 *
 *   raw ONNX Runtime (child process per variant, service session options + the override):
 *     opt-level   graphOptimizationLevel disabled | basic | extended | all
 *     arena       enableCpuMemArena x enableMemPattern (speed and peak RSS)
 *     spinning    intra-op thread spinning on (ORT default) | off
 *     fuse        vq_encoder + semantic_encoder as one graph vs two sessions (image -> embedding)
 *     token-mlp   semantic_encoder input: precomputed token-MLP table vs gather + MLP
 *   HTTP service (bench/http.ts):
 *     threads     TOKLIP_WORKERS x TOKLIP_INTRA_OP_THREADS on the machine's cores
 *     delay       TOKLIP_MAX_DELAY_MS
 *
 *   npm run bench:tune -- --bundle DIR [--experiments opt-level,arena,...] [--batches 1,8]
 *        [--target-seconds 3] [--http-duration 20] [--out bench/results]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, GiB, PYTHON, REPO_ROOT, Run, fmt, formatTable, intList, readResult } from './lib/common.js';
import { type BenchBundle, readBundle } from './lib/bundle.js';
import { countFlops } from './lib/flops.js';
import { type JobGraph, type OrtJobResult, runOrtJob } from './lib/ort-job.js';
import { type HttpResults, type RouteName, printHttp, runHttpBench } from './http.js';
import { type OrtResults, jobGraphs } from './ort.js';

export const EXPERIMENTS = ['opt-level', 'arena', 'spinning', 'fuse', 'token-mlp', 'threads', 'delay'] as const;
export type Experiment = (typeof EXPERIMENTS)[number];

export interface RawVariant {
  readonly variant: string;
  readonly overrides: Record<string, unknown>;
  readonly createMs: number;
  readonly peakRssGiB: number;
  readonly loadedRssGiB: number;
  readonly runs: OrtJobResult['runs'];
}

export interface RawExperiment {
  readonly kind: 'raw';
  readonly bundle: string;
  readonly current: string;
  readonly variants: readonly RawVariant[];
  /** fuse: items/s of the two-session pipeline computed from its parts, per batch. */
  readonly derived?: readonly { variant: string; batch: number; itemsPerSecond: number }[];
}

export interface HttpExperiment {
  readonly kind: 'http';
  readonly bundle: string;
  readonly current: string;
  readonly variants: readonly { variant: string; result: HttpResults }[];
}

export type TuneResult = RawExperiment | HttpExperiment;

interface Context {
  readonly bundle: BenchBundle;
  readonly batches: readonly number[];
  readonly threads: number;
  readonly targetSeconds: number;
  readonly maxIterations: number;
  readonly httpDuration: number;
  readonly httpWarmup: number;
  readonly httpMinRequests: number;
  readonly out: string;
}

async function rawVariant(ctx: Context, variant: string, graphs: readonly JobGraph[], overrides: Record<string, unknown> = {}): Promise<RawVariant> {
  console.log(`  variant ${variant}`);
  const r = await runOrtJob({
    bundleDir: ctx.bundle.dir,
    graphs,
    batches: ctx.batches,
    threads: ctx.threads,
    overrides,
    targetSeconds: ctx.targetSeconds,
    maxIterations: ctx.maxIterations,
  });
  return {
    variant,
    overrides,
    createMs: r.memory.sessions.reduce((a, s) => a + s.createMs, 0),
    peakRssGiB: r.memory.peakRss / GiB,
    loadedRssGiB: (r.memory.loadedRss - r.memory.baselineRss) / GiB,
    runs: r.runs,
  };
}

function tmpGraph(ctx: Context, kind: 'fuse' | 'token-mlp'): string {
  const dir = join(REPO_ROOT, 'bench', 'results', 'tmp');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${ctx.bundle.id}-${kind}.onnx`);
  if (!existsSync(path)) {
    console.log(`  building ${path.replace(REPO_ROOT + '/', '')}`);
    execFileSync(PYTHON, [join(REPO_ROOT, 'bench', 'python', 'onnx_tools.py'), kind, ctx.bundle.dir, path], { stdio: 'inherit' });
  }
  return path;
}

async function raw(ctx: Context, experiment: Experiment): Promise<RawExperiment> {
  const graphs = jobGraphs(ctx.bundle);
  const base = { kind: 'raw' as const, bundle: ctx.bundle.id };
  switch (experiment) {
    case 'opt-level': {
      const variants = [];
      for (const level of ['disabled', 'basic', 'extended', 'all']) variants.push(await rawVariant(ctx, level, graphs, { graphOptimizationLevel: level }));
      return { ...base, current: 'all', variants };
    }
    case 'arena': {
      const variants = [];
      for (const arena of [true, false]) {
        for (const pattern of [true, false]) {
          variants.push(await rawVariant(ctx, `arena ${arena ? 'on' : 'off'}, mem pattern ${pattern ? 'on' : 'off'}`, graphs, { enableCpuMemArena: arena, enableMemPattern: pattern }));
        }
      }
      return { ...base, current: 'arena on, mem pattern on', variants };
    }
    case 'spinning': {
      const variants = [];
      for (const spin of ['1', '0']) {
        variants.push(await rawVariant(ctx, `spinning ${spin === '1' ? 'on' : 'off'}`, graphs, { extra: { session: { intra_op: { allow_spinning: spin } } } }));
      }
      return { ...base, current: 'spinning on', variants };
    }
    case 'fuse': {
      const pipeline = graphs.filter((g) => g.name === 'vq_encoder' || g.name === 'semantic_encoder');
      const fused: JobGraph = { name: 'fused_image_encoder', path: tmpGraph(ctx, 'fuse'), input: 'pixels', outputs: ['embedding'] };
      const variants = [await rawVariant(ctx, 'two sessions', pipeline), await rawVariant(ctx, 'fused graph', [fused])];
      const parts = variants[0]!.runs;
      const derived = ctx.batches.map((batch) => {
        const vq = parts.find((r) => r.graph === 'vq_encoder' && r.batch === batch)!;
        const sem = parts.find((r) => r.graph === 'semantic_encoder' && r.batch === batch)!;
        return { variant: 'two sessions', batch, itemsPerSecond: 1 / (1 / vq.itemsPerSecond + 1 / sem.itemsPerSecond) };
      });
      return { ...base, current: 'two sessions', variants, derived };
    }
    case 'token-mlp': {
      const table = graphs.filter((g) => g.name === 'semantic_encoder');
      const mlp: JobGraph = { ...table[0]!, name: 'semantic_encoder (gather + MLP)', path: tmpGraph(ctx, 'token-mlp') };
      const variants = [await rawVariant(ctx, 'table', table), await rawVariant(ctx, 'gather + MLP', [mlp])];
      return { ...base, current: ctx.bundle.manifest.graphs.semantic_encoder ? 'table' : 'none', variants };
    }
    default:
      throw new Error(`${experiment} is not a raw experiment`);
  }
}

async function http(ctx: Context, experiment: Experiment, ort: OrtResults | undefined): Promise<HttpExperiment> {
  const cores = availableParallelism();
  const common = {
    bundleDir: ctx.bundle.dir,
    warmupSeconds: ctx.httpWarmup,
    durationSeconds: ctx.httpDuration,
    minRequests: ctx.httpMinRequests,
    maxSeconds: Math.max(300, ctx.httpDuration * 5),
    ...(ort ? { ort } : {}),
  };
  const variants: HttpExperiment['variants'][number][] = [];
  if (experiment === 'threads') {
    const routes: RouteName[] = ['tokenize', 'encode-image', 'encode-tokens'];
    const shapes: [number, number][] = [];
    for (let workers = 1; workers <= cores; workers *= 2) shapes.push([workers, Math.max(1, Math.floor(cores / workers))]);
    for (const [workers, threads] of shapes) {
      const result = await runHttpBench({ ...common, routes, concurrency: [32], server: { workers, intraOpThreads: threads, maxBatch: 16, maxDelayMs: 5 } });
      printHttp(result);
      variants.push({ variant: `${workers} worker(s) x ${threads} thread(s)`, result });
    }
    return { kind: 'http', bundle: ctx.bundle.id, current: `1 worker(s) x ${cores} thread(s)`, variants };
  }
  const routes: RouteName[] = ['tokenize', 'encode-tokens'];
  for (const delay of [0, 5, 20]) {
    const result = await runHttpBench({ ...common, routes, concurrency: [1, 8], server: { workers: 1, intraOpThreads: cores, maxBatch: 16, maxDelayMs: delay } });
    printHttp(result);
    variants.push({ variant: `max delay ${delay} ms`, result });
  }
  return { kind: 'http', bundle: ctx.bundle.id, current: 'max delay 5 ms', variants };
}

export function printRaw(name: string, r: RawExperiment, flops: (graph: string) => number): void {
  console.log(`\n${name} on ${r.bundle} (current: ${r.current})`);
  const rows: (string | number)[][] = [];
  for (const v of r.variants) {
    for (const run of v.runs) rows.push([v.variant, run.graph, run.batch, run.medianMs, run.itemsPerSecond, (flops(run.graph) * run.itemsPerSecond) / 1e9, v.createMs, v.peakRssGiB]);
  }
  for (const d of r.derived ?? []) rows.push([`${d.variant} (pipeline)`, 'vq_encoder + semantic_encoder', d.batch, '-', d.itemsPerSecond, '-', '-', '-']);
  console.log(formatTable(['variant', 'graph', 'batch', 'ms/batch', 'items/s', 'GFLOP/s', 'create ms', 'peak RSS GiB'], rows));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string' },
      experiments: { type: 'string', default: EXPERIMENTS.join(',') },
      batches: { type: 'string', default: '1,8' },
      threads: { type: 'string', default: String(availableParallelism()) },
      'target-seconds': { type: 'string', default: '3' },
      'max-iterations': { type: 'string', default: '20' },
      'http-duration': { type: 'string', default: '20' },
      'http-warmup': { type: 'string', default: '5' },
      'http-min-requests': { type: 'string', default: '0' },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  if (!values.bundle) throw new Error('--bundle DIR is required');
  const bundle = readBundle(values.bundle);
  const ctx: Context = {
    bundle,
    batches: intList(values.batches),
    threads: Number(values.threads),
    targetSeconds: Number(values['target-seconds']),
    maxIterations: Number(values['max-iterations']),
    httpDuration: Number(values['http-duration']),
    httpWarmup: Number(values['http-warmup']),
    httpMinRequests: Number(values['http-min-requests']),
    out: values.out,
  };
  const ort = readResult<OrtResults>(join(values.out, 'ort.json'))?.results;
  const flopsCache = new Map<string, number>();
  const flops = (graph: string): number => {
    if (!flopsCache.has(graph)) {
      const path = graph === 'fused_image_encoder' ? tmpGraph(ctx, 'fuse') : graph.startsWith('semantic_encoder (') ? tmpGraph(ctx, 'token-mlp') : bundle.graphPaths[graph as keyof typeof bundle.graphPaths];
      flopsCache.set(graph, path ? countFlops(path, { batch: 1, tokens: bundle.numTokens }).flops : 0);
    }
    return flopsCache.get(graph)!;
  };
  for (const name of values.experiments.split(',') as Experiment[]) {
    if (!EXPERIMENTS.includes(name)) throw new Error(`unknown experiment ${name} (one of ${EXPERIMENTS.join(', ')})`);
    const run = new Run<TuneResult>(`tune-${name}`, { ...ctx, bundle: bundle.dir });
    console.log(`${name}: ${bundle.id}`);
    const result = name === 'threads' || name === 'delay' ? await http(ctx, name, ort) : await raw(ctx, name);
    if (result.kind === 'raw') printRaw(name, result, flops);
    run.finish(result, values.out);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
