/**
 * (1) Raw ONNX Runtime in-process (no HTTP): latency and items/s of every graph at every batch
 * size, with the service's session options; (5) achieved GFLOP/s per graph (FLOPs counted
 * over the ONNX graph) against the measured GEMM peak (bench/peak.ts); (6) resident memory
 * after loading each bundle against its weight bytes. One child process per bundle.
 *
 *   npm run bench:ort -- [--bundle DIR]... [--batches 1,2,4,8,16] [--threads 2] [--device cpu|cuda[:N]]
 *                        [--target-seconds 3] [--max-iterations 20] [--max-point-seconds S] [--warmup point|graph]
 *                        [--out bench/results]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, GiB, MiB, type Measured, Run, fmt, formatTable, intList, loadSnapshot, mergeByBundle, readResult } from './lib/common.js';
import { type BenchBundle, type GraphName, defaultBundleDirs, readBundle } from './lib/bundle.js';
import { countFlops } from './lib/flops.js';
import { type InputKind, type JobGraph, type Measurement, type OrtJobResult, runOrtJob } from './lib/ort-job.js';
import type { PeakResults } from './peak.js';

export const INPUT_KIND: Record<GraphName, InputKind> = {
  vq_encoder: 'pixels',
  semantic_encoder: 'ids',
  vq_decoder: 'ids',
  text_encoder: 'text',
};

/** What the service fetches on its main path (encode asks for the embedding only). */
export const SERVICE_OUTPUTS: Partial<Record<GraphName, readonly string[]>> = { semantic_encoder: ['embedding'] };

export interface OrtRun extends Measurement {
  readonly gflopsPerSecond: number;
  readonly gflopsPerCpuSecond: number;
}

export interface OrtBundleResult {
  readonly bundle: string;
  readonly dir: string;
  readonly dtype: string;
  readonly imageSize: number;
  readonly numTokens: number;
  readonly weightBytes: number;
  readonly graphBytes: Partial<Record<GraphName, number>>;
  /** FLOPs per item at batch 1 (MatMul + Gemm + Conv, 2 x MACs). */
  readonly flopsPerItem: Partial<Record<GraphName, number>>;
  readonly memory: OrtJobResult['memory'];
  readonly runs: readonly OrtRun[];
  readonly skipped: OrtJobResult['skipped'];
  readonly measured?: Measured;
  /** How this bundle was timed (a merged ort.json may hold bundles of runs with other settings). */
  readonly timing?: { readonly warmup: 'point' | 'graph'; readonly targetSeconds: number; readonly maxIterations: number; readonly maxPointSeconds?: number };
}

export interface OrtResults {
  readonly threads: number;
  readonly device?: string;
  readonly bundles: readonly OrtBundleResult[];
}

/** The raw ORT measurement of one bundle's graph at one batch size, to compare another runtime with. */
export function ortRunAt(results: OrtResults | undefined, bundle: string, graph: string, batch: number) {
  return results?.bundles.find((x) => x.bundle === bundle)?.runs.find((x) => x.graph === graph && x.batch === batch);
}

export function flopsOf(bundle: BenchBundle): Partial<Record<GraphName, number>> {
  const out: Partial<Record<GraphName, number>> = {};
  for (const g of bundle.graphs) {
    out[g] = countFlops(bundle.graphPaths[g]!, { batch: 1, tokens: bundle.numTokens }).flops;
  }
  return out;
}

export function jobGraphs(bundle: BenchBundle, graphs: readonly GraphName[] = bundle.graphs): JobGraph[] {
  return graphs
    .filter((g) => bundle.graphPaths[g] !== undefined)
    .map((g) => ({ name: g, path: bundle.graphPaths[g]!, input: INPUT_KIND[g], ...(SERVICE_OUTPUTS[g] ? { outputs: SERVICE_OUTPUTS[g] } : {}) }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string', multiple: true },
      graphs: { type: 'string' },
      batches: { type: 'string', default: '1,2,4,8,16' },
      threads: { type: 'string', default: '2' },
      device: { type: 'string', default: 'cpu' },
      'target-seconds': { type: 'string', default: '3' },
      'max-iterations': { type: 'string', default: '20' },
      'max-point-seconds': { type: 'string' },
      warmup: { type: 'string', default: 'point' },
      'no-merge': { type: 'boolean', default: false },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const dirs = values.bundle ?? defaultBundleDirs();
  if (dirs.length === 0) throw new Error('no bundle: pass --bundle DIR or put bundles under models/ or models-local/');
  const settings = {
    batches: intList(values.batches),
    threads: Number(values.threads),
    device: values.device,
    targetSeconds: Number(values['target-seconds']),
    maxIterations: Number(values['max-iterations']),
    maxPointSeconds: values['max-point-seconds'] ? Number(values['max-point-seconds']) : undefined,
    warmup: values.warmup as 'point' | 'graph',
    bundles: dirs,
  };
  if (settings.warmup !== 'point' && settings.warmup !== 'graph') throw new Error('--warmup is point or graph');
  const run = new Run<OrtResults>('ort', settings);
  const peak = readResult<PeakResults>(join(values.out, 'peak.json'))?.results;
  const graphFilter = values.graphs?.split(',') as GraphName[] | undefined;

  const results: OrtBundleResult[] = [];
  for (const dir of dirs) {
    const bundle = readBundle(dir);
    console.log(`${bundle.id}: counting FLOPs`);
    const flops = flopsOf(bundle);
    const loadBefore = loadSnapshot();
    const job = await runOrtJob({
      bundleDir: bundle.dir,
      graphs: jobGraphs(bundle, graphFilter),
      batches: settings.batches,
      threads: settings.threads,
      device: settings.device,
      targetSeconds: settings.targetSeconds,
      maxIterations: settings.maxIterations,
      ...(settings.maxPointSeconds !== undefined ? { maxPointSeconds: settings.maxPointSeconds } : {}),
      warmup: settings.warmup,
    });
    results.push({
      bundle: bundle.id,
      dir: bundle.dir,
      dtype: bundle.manifest.dtype,
      imageSize: bundle.imageSize,
      numTokens: bundle.numTokens,
      weightBytes: bundle.weightBytes,
      graphBytes: bundle.graphBytes,
      flopsPerItem: flops,
      memory: job.memory,
      runs: job.runs.map((m) => ({
        ...m,
        gflopsPerSecond: ((flops[m.graph as GraphName] ?? 0) * m.itemsPerSecond) / 1e9,
        gflopsPerCpuSecond: (flops[m.graph as GraphName] ?? 0) / (m.cpuMsPerItem * 1e6),
      })),
      skipped: job.skipped,
      measured: { loadBefore, loadAfter: loadSnapshot() },
      timing: {
        warmup: settings.warmup,
        targetSeconds: settings.targetSeconds,
        maxIterations: settings.maxIterations,
        ...(settings.maxPointSeconds !== undefined ? { maxPointSeconds: settings.maxPointSeconds } : {}),
      },
    });
  }

  const peakGflops = peak?.peakGflopsPerSecond;
  console.log(`\nRaw ONNX Runtime on ${settings.device}, ${settings.threads} intra-op threads${peakGflops ? `, GEMM peak ${fmt(peakGflops)} GFLOP/s (bench/peak.ts)` : ''}`);
  console.log(
    formatTable(
      ['bundle', 'graph', 'batch', 'ms/batch', 'items/s', 'CPU ms/item', 'GFLOP/item', 'GFLOP/s', '% peak', 'GFLOP/CPU-s', '% peak (CPU)'],
      results.flatMap((b) =>
        b.runs.map((r) => [
          b.bundle,
          r.graph,
          r.batch,
          r.medianMs,
          r.itemsPerSecond,
          r.cpuMsPerItem,
          (b.flopsPerItem[r.graph as GraphName] ?? 0) / 1e9,
          r.gflopsPerSecond,
          peakGflops ? (100 * r.gflopsPerSecond) / peakGflops : '-',
          r.gflopsPerCpuSecond,
          peak ? (100 * r.gflopsPerCpuSecond) / peak.peakGflopsPerCpuSecond : '-',
        ]),
      ),
    ),
  );
  console.log('\nMemory after creating every session');
  console.log(
    formatTable(
      ['bundle', 'weights MiB', 'RSS MiB (loaded - baseline)', 'RSS / weights', 'peak RSS GiB'],
      results.map((b) => [
        b.bundle,
        b.weightBytes / MiB,
        (b.memory.loadedRss - b.memory.baselineRss) / MiB,
        (b.memory.loadedRss - b.memory.baselineRss) / b.weightBytes,
        b.memory.peakRss / GiB,
      ]),
    ),
  );
  const earlier = values['no-merge'] ? undefined : readResult<OrtResults>(join(values.out, 'ort.json'))?.results;
  const merged = earlier && earlier.threads === settings.threads && (earlier.device ?? 'cpu') === settings.device ? mergeByBundle(results, earlier.bundles) : results;
  run.finish({ threads: settings.threads, device: settings.device, bundles: merged }, values.out);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
