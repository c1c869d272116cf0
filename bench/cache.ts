/**
 * The result cache under load (issue 29): the service on loopback at concurrency 32, one JPEG
 * per request (a raw image body), on two workloads (bench/lib/workloads.ts): `repeat90`, where 9
 * of every 10 images were sent before, and `unique`, where none was; each with the in-process
 * cache off (TOKLIP_CACHE_MB=0) and on (the default, TOKLIP_CACHE_MB=128), in one run, one
 * service at a time, in the order given (default off, on, on, off: a drift of the machine's load
 * over the run weighs on both settings alike). A window lasts until --duration seconds passed,
 * --min-requests answers came and --min-computed images were computed in it (two per client by
 * default: a repeat90 window then holds whole cycles of nine hits and a miss per client).
 * Targets: repeat90 on >= 5 x off; unique on >= 0.97 x off.
 *
 *   npm run bench:cache -- [--bundle DIR]... [--operation encode-image|tokenize] [--concurrency 32]
 *        [--order off,on,on,off] [--warmup 5] [--duration 20] [--min-requests 64] [--min-computed 64]
 *        [--max-seconds 900] [--workloads repeat90,unique] [--label cache] [--out bench/results]
 *   Run every timing under `flock /work/notes/bench.lock` on a shared machine (docs/benchmarks.md).
 */
import { randomUUID } from 'node:crypto';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, type LoadSnapshot, Run, fmt, formatTable, loadSnapshot, mean, mergeByBundle, percentile, readResult } from './lib/common.js';
import { defaultBundleDirs } from './lib/bundle.js';
import { picture } from './lib/images.js';
import { closedLoop } from './lib/load.js';
import { metricSum, scrape, startService } from './lib/server.js';
import { WORKLOADS, type WorkloadName, workload } from './lib/workloads.js';

export const OPERATIONS = { 'encode-image': '/v1/encode', tokenize: '/v1/tokenize' } as const;
export type Operation = keyof typeof OPERATIONS;
export const TARGETS: Record<WorkloadName, number> = { repeat90: 5, unique: 0.97 };

export interface CachePoint {
  readonly workload: WorkloadName;
  readonly cache: 'off' | 'on';
  /** Position in the run's order (0-based). */
  readonly position: number;
  readonly completed: number;
  readonly seconds: number;
  /** Images (= requests) per second: concurrency / mean latency (closed loop). */
  readonly imagesPerSecond: number;
  /** Answers in the window / its length (close to imagesPerSecond once the window spans many batches and, on repeat90, many cycles of a client's misses). */
  readonly answersPerSecond?: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly mean: number };
  readonly errors: Record<string, number>;
  /** Items of the window answered from the cache / computed (from /metrics). */
  readonly hits: number;
  readonly misses: number;
  /** Images that went through vq_encoder in the window. */
  readonly computedImages: number;
  /**
   * CPU time of the server process (every thread) in the window per answer, ms: what an image
   * costs, less sensitive than images/s to other processes sharing the machine.
   */
  readonly cpuMsPerImage?: number;
}

export interface CacheBundleResult {
  readonly bundle: string;
  readonly operation: Operation;
  readonly concurrency: number;
  readonly layout: { readonly workers: number; readonly intraOpThreads: number; readonly maxBatch: number };
  readonly points: readonly CachePoint[];
  /** Mean images/s with the cache on / off, per workload. */
  readonly ratios: Partial<Record<WorkloadName, number>>;
  /** When and under what load this bundle was measured (a result file may hold bundles of several runs). */
  readonly measured?: { readonly started: string; readonly finished: string; readonly loadBefore: LoadSnapshot; readonly loadAfter: LoadSnapshot };
}

export interface CacheResults {
  readonly bundles: readonly CacheBundleResult[];
}

function parseOptions() {
  return parseArgs({
    options: {
      bundle: { type: 'string', multiple: true },
      operation: { type: 'string', default: 'encode-image' },
      concurrency: { type: 'string', default: '32' },
      order: { type: 'string', default: 'off,on,on,off' },
      workloads: { type: 'string', default: WORKLOADS.join(',') },
      warmup: { type: 'string', default: '5' },
      duration: { type: 'string', default: '20' },
      'min-requests': { type: 'string', default: '64' },
      'min-computed': { type: 'string', default: '64' },
      'max-seconds': { type: 'string', default: '900' },
      popular: { type: 'string', default: '32' },
      label: { type: 'string', default: 'cache' },
      out: { type: 'string', default: DEFAULT_OUT },
    },
    allowPositionals: false,
  }).values;
}

/** Images per second of one setting: the mean over its windows. */
function meanRate(points: readonly CachePoint[], workloadName: WorkloadName, cache: 'off' | 'on'): number | undefined {
  const rates = points.filter((p) => p.workload === workloadName && p.cache === cache).map((p) => p.imagesPerSecond);
  return rates.length === 0 ? undefined : mean(rates);
}

async function main(): Promise<void> {
  const values = parseOptions();
  const operation = values.operation as Operation;
  if (!(operation in OPERATIONS)) throw new Error(`--operation: one of ${Object.keys(OPERATIONS).join(', ')}`);
  const concurrency = Number(values.concurrency);
  const order = values.order.split(',').map((s) => s.trim()) as ('off' | 'on')[];
  if (order.some((o) => o !== 'off' && o !== 'on')) throw new Error('--order: a list of off and on');
  const workloadNames = values.workloads.split(',').map((s) => s.trim()) as WorkloadName[];
  if (workloadNames.some((w) => !WORKLOADS.includes(w))) throw new Error(`--workloads: some of ${WORKLOADS.join(', ')}`);
  const bundleDirs = (values.bundle ?? defaultBundleDirs()).map((dir) => resolve(dir));
  const settings = {
    operation,
    concurrency,
    order,
    workloads: workloadNames,
    warmupSeconds: Number(values.warmup),
    durationSeconds: Number(values.duration),
    minRequests: Number(values['min-requests']),
    // Images computed in a window: at least two per client, so that a repeat90 window holds whole cycles of
    // nine hits and a miss per client (its hit share then that of the stream), not the burst of hits after the warm-up.
    minComputed: Number(values['min-computed']),
    maxSeconds: Number(values['max-seconds']),
    popular: Number(values.popular),
    cacheMb: { off: 0, on: 128 },
    images: '16 photo-like JPEGs (640-790 px wide, 4:3, quality 90), one per request as a raw image/jpeg body',
  };
  const run = new Run<CacheResults>(values.label, settings);
  // 16 photo-like base pictures of 640 to 790 px (bench/lib/images.ts); every request's image a distinct file of one of them.
  const bases = await Promise.all(Array.from({ length: 16 }, (_, i) => picture(640 + 10 * i, 'jpeg')));
  const salt = randomUUID().slice(0, 8);
  const results: CacheBundleResult[] = [];

  for (const dir of bundleDirs) {
    const started = new Date().toISOString();
    const loadBefore = loadSnapshot();
    const points: CachePoint[] = [];
    let layout = { workers: 0, intraOpThreads: 0, maxBatch: 0 };
    for (const workloadName of workloadNames) {
      for (const [position, cache] of order.entries()) {
        // The same request stream for every setting: the salt is the run's.
        const stream = workload(workloadName, { bases, popular: settings.popular, salt });
        const service = await startService(dir, {
          workers: 0,
          intraOpThreads: 0,
          maxBatch: 0,
          maxDelayMs: 5,
          env: { TOKLIP_CACHE_MB: String(settings.cacheMb[cache]) },
        });
        layout = service.layout;
        try {
          let before = new Map<string, number>();
          let after = new Map<string, number>();
          let cpuBefore = 0;
          let cpuAfter = 0;
          // Images computed since the window began, from /metrics every second.
          let computedInWindow = 0;
          let polling: NodeJS.Timeout | undefined;
          const load = await closedLoop({
            url: service.url,
            path: OPERATIONS[operation],
            body: (sequence) => stream.body(sequence),
            headers: { 'content-type': 'image/jpeg', accept: 'application/json' },
            concurrency,
            warmupSeconds: settings.warmupSeconds,
            durationSeconds: settings.durationSeconds,
            minRequests: settings.minRequests,
            maxSeconds: settings.maxSeconds,
            windowDone: () => computedInWindow >= settings.minComputed,
            onWindow: async (edge) => {
              if (edge === 'start') {
                before = await scrape(service.url);
                cpuBefore = service.cpuMs();
                const start = metricSum(before, 'toklip_batch_size_sum', { graph: 'vq_encoder' });
                polling = setInterval(() => {
                  scrape(service.url).then(
                    (now) => (computedInWindow = metricSum(now, 'toklip_batch_size_sum', { graph: 'vq_encoder' }) - start),
                    () => {},
                  );
                }, 1000);
              } else {
                clearInterval(polling);
                cpuAfter = service.cpuMs();
                after = await scrape(service.url);
              }
            },
          });
          const delta = (name: string, labels: Record<string, string> = {}) => metricSum(after, name, labels) - metricSum(before, name, labels);
          const point: CachePoint = {
            workload: workloadName,
            cache,
            position,
            completed: load.completed,
            seconds: load.seconds,
            imagesPerSecond: load.requestsPerSecond,
            answersPerSecond: load.windowRequestsPerSecond,
            latencyMs: { p50: percentile(load.latenciesMs, 50), p99: percentile(load.latenciesMs, 99), mean: mean(load.latenciesMs) },
            errors: load.errors,
            hits: delta('toklip_cache_hits_total'),
            misses: delta('toklip_cache_misses_total'),
            computedImages: delta('toklip_batch_size_sum', { graph: 'vq_encoder' }),
            cpuMsPerImage: (cpuAfter - cpuBefore) / Math.max(1, load.completed),
          };
          points.push(point);
          console.log(
            `${basename(dir)} ${operation} ${workloadName} cache ${cache}: ${fmt(point.imagesPerSecond)} images/s, ` +
              `p50 ${fmt(point.latencyMs.p50)} ms, ${point.completed} answers in ${fmt(point.seconds)} s, ` +
              `hits ${point.hits} misses ${point.misses}, ${point.computedImages} images computed, ${fmt(point.cpuMsPerImage ?? Number.NaN)} CPU ms/image${Object.keys(point.errors).length ? `, errors ${JSON.stringify(point.errors)}` : ''}`,
          );
        } finally {
          await service.stop();
        }
      }
    }
    const ratios: Partial<Record<WorkloadName, number>> = {};
    for (const w of workloadNames) {
      const on = meanRate(points, w, 'on');
      const off = meanRate(points, w, 'off');
      if (on !== undefined && off !== undefined) ratios[w] = on / off;
    }
    results.push({
      bundle: basename(dir),
      operation,
      concurrency,
      layout,
      points,
      ratios,
      measured: { started, finished: new Date().toISOString(), loadBefore, loadAfter: loadSnapshot() },
    });
    console.log(
      formatTable(
        ['workload', 'off images/s', 'on images/s', 'on / off', 'target'],
        workloadNames.map((w) => [w, meanRate(points, w, 'off') ?? Number.NaN, meanRate(points, w, 'on') ?? Number.NaN, ratios[w] ?? Number.NaN, `>= ${TARGETS[w]}`]),
      ),
    );
  }
  // Bundles measured in an earlier run of the same label and not now are kept (each bundle's ratios come from one run).
  const earlierFile = readResult<CacheResults>(join(values.out, `${values.label}.json`));
  const earlier = earlierFile?.results.bundles.map((b) =>
    b.measured !== undefined
      ? b
      : { ...b, measured: { started: earlierFile.started, finished: earlierFile.finished, loadBefore: earlierFile.loadBefore, loadAfter: earlierFile.loadAfter } },
  );
  run.finish({ bundles: mergeByBundle(results, earlier) }, values.out, `${values.label}.json`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
