/**
 * (3) The HTTP service under load, started by this script on loopback: tokenize, encode
 * (image), encode (tokens), decode and similarity at each concurrency; requests/s, latency
 * percentiles, the mean batch size the batchers formed and the event-loop lag p99 (both from
 * /metrics: prom-client resets its event-loop histogram at every scrape, so the scrape at the
 * window's start and the one at its end bracket the load), errors, and the ratio to raw ONNX
 * Runtime (bench/results/ort.json) at the batch size formed and at the best batch size.
 *
 *   npm run bench:http -- --bundle DIR [--concurrency 1,8,32] [--routes tokenize,...]
 *        [--duration 20] [--warmup 5] [--min-requests 0] [--max-seconds 300] [--skip ROUTE@C,...]
 *        [--workers 0] [--intra-op-threads 0] [--intra-op-spinning false] [--max-batch 0] [--max-delay-ms 5]
 *        [--device cpu|cuda[:N]] [--env TOKLIP_NAME=VALUE,...]
 *   (workers / threads 0: the service's automatic layout, recorded as it chose it; --env: other settings of the service)
 *        [--label http] [--out bench/results]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, MiB, Run, fmt, formatTable, intList, mean, percentile, readResult } from './lib/common.js';
import { type BenchBundle, type GraphName, defaultBundleDirs, idInput, readBundle } from './lib/bundle.js';
import { picture } from './lib/images.js';
import { closedLoop } from './lib/load.js';
import { type ServerSettings, eventLoopLagMs, metricSum, scrape, startService } from './lib/server.js';
import type { OrtResults } from './ort.js';
import { EVENT_LOOP_SAMPLING_MS } from '../src/metrics.js';

export const ROUTES = ['tokenize', 'encode-image', 'encode-tokens', 'decode', 'similarity'] as const;
export type RouteName = (typeof ROUTES)[number];

/** Graph calls one request makes (items per graph); the basis of the raw-ORT equivalent. */
export const ROUTE_GRAPHS: Record<RouteName, Partial<Record<GraphName, number>>> = {
  tokenize: { vq_encoder: 1 },
  'encode-image': { vq_encoder: 1, semantic_encoder: 1 },
  'encode-tokens': { semantic_encoder: 1 },
  decode: { vq_decoder: 1 },
  similarity: { semantic_encoder: 1, text_encoder: 2 },
};

const TEXTS = ['a photo of a cat sitting on a sofa', 'a diagram of a neural network'];
/** The image sent to tokenize / encode: a 640x480 photo-like JPEG (quality 90). */
const IMAGE_WIDTH = 640;

export interface GraphStats {
  readonly batches: number;
  readonly meanBatch: number;
  /** Mean worker time per batch (tensor assembly + ORT run), ms. */
  readonly meanInferenceMs: number;
}

export interface HttpPoint {
  readonly route: RouteName;
  readonly concurrency: number;
  readonly completed: number;
  readonly seconds: number;
  /** concurrency / mean latency (closed loop: Little's law). */
  readonly requestsPerSecond: number;
  /** answers / window length. */
  readonly windowRequestsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly mean: number; readonly max: number };
  readonly errors: Record<string, number>;
  readonly graphs: Partial<Record<GraphName, GraphStats>>;
  /**
   * prom-client's event-loop gauges over the window (monitorEventLoopDelay, reset at each
   * scrape), ms: intervals between ticks of a timer set to `eventLoopSamplingMs`, so an idle
   * loop reads about that interval.
   */
  readonly eventLoopLagMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The loop's lag: the same percentiles minus the sampling interval (how late a timer fired). */
  readonly eventLoopDelayMs?: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly eventLoopSamplingMs?: number;
  readonly serverRssMiB: number;
  /** Server CPU time (all threads) per request: CPU used in the window / window / requests/s, ms. */
  readonly cpuMsPerRequest: number;
  /** The same ratios in CPU time: raw ORT CPU ms for one request's graph calls / the service's. */
  readonly cpuRatioAtFormedBatch?: number;
  readonly cpuRatioAtBestBatch?: number;
  /** Raw ORT items/s for the same work, at the batch sizes formed here and at the best batch size. */
  readonly ortAtFormedBatch?: number;
  readonly ortAtBestBatch?: number;
  readonly ratioAtFormedBatch?: number;
  readonly ratioAtBestBatch?: number;
}

export interface HttpResults {
  readonly bundle: string;
  readonly server: ServerSettings & {
    readonly startSeconds: number;
    readonly idleRssMiB: number;
    /** prom-client's event-loop p50 / p99 over 2 s with no load, ms: the sampling interval alone. */
    readonly idleEventLoopLagMs?: { readonly p50: number; readonly p99: number };
    /** Workers x threads the service ran with (its automatic choice when the settings say 0). */
    readonly layout?: { readonly workers: number; readonly intraOpThreads: number; readonly maxBatch?: number };
  };
  readonly image: { readonly width: number; readonly height: number; readonly bytes: number };
  /** Load windows: warm-up until every client got an answer and this many seconds passed, then the window. */
  readonly window?: { readonly warmupSeconds: number; readonly durationSeconds: number; readonly minRequests: number };
  readonly points: readonly HttpPoint[];
  /** route@concurrency points left out on purpose (--skip: time budget). */
  readonly skipped?: readonly string[];
}

interface RequestSpec {
  readonly path: string;
  readonly body: Buffer;
}

async function requestFor(route: RouteName, bundle: BenchBundle, jpegBase64: string): Promise<RequestSpec> {
  const ids = Array.from(idInput(1, bundle.numTokens, bundle.codebookSize), Number);
  const json = (path: string, value: unknown): RequestSpec => ({ path, body: Buffer.from(JSON.stringify(value)) });
  switch (route) {
    case 'tokenize':
      return json('/v1/tokenize', { images: [jpegBase64] });
    case 'encode-image':
      return json('/v1/encode', { images: [jpegBase64] });
    case 'encode-tokens':
      return json('/v1/encode', { tokens: [ids] });
    case 'decode':
      return json('/v1/decode', { tokens: [ids], format: 'png' });
    case 'similarity':
      return json('/v1/similarity', { tokens: [ids], texts: TEXTS });
  }
}

function routeAvailable(route: RouteName, bundle: BenchBundle): boolean {
  return Object.keys(ROUTE_GRAPHS[route]).every((g) => bundle.graphPaths[g as GraphName] !== undefined);
}

/** Raw ORT items/s of graph g at the measured batch size nearest (in log scale) to `batch`. */
function ortRate(ort: OrtResults['bundles'][number], graph: GraphName, batch: number | 'best'): number | undefined {
  const runs = ort.runs.filter((r) => r.graph === graph);
  if (runs.length === 0) return undefined;
  if (batch === 'best') return Math.max(...runs.map((r) => r.itemsPerSecond));
  const nearest = runs.reduce((a, b) => (Math.abs(Math.log(b.batch / batch)) < Math.abs(Math.log(a.batch / batch)) ? b : a));
  return nearest.itemsPerSecond;
}

/** Requests/s raw ORT would reach doing exactly one request's graph calls, batch after batch. */
export function ortEquivalent(
  route: RouteName,
  ort: OrtResults['bundles'][number] | undefined,
  batchOf: (g: GraphName) => number | 'best',
): number | undefined {
  if (!ort) return undefined;
  let secondsPerRequest = 0;
  for (const [g, items] of Object.entries(ROUTE_GRAPHS[route]) as [GraphName, number][]) {
    const rate = ortRate(ort, g, batchOf(g));
    if (rate === undefined) return undefined;
    secondsPerRequest += items / rate;
  }
  return 1 / secondsPerRequest;
}

/** CPU ms raw ORT spends on one request's graph calls (at the batch sizes given; 'best' = least CPU per item). */
export function ortCpuEquivalent(
  route: RouteName,
  ort: OrtResults['bundles'][number] | undefined,
  batchOf: (g: GraphName) => number | 'best',
): number | undefined {
  if (!ort) return undefined;
  let ms = 0;
  for (const [g, items] of Object.entries(ROUTE_GRAPHS[route]) as [GraphName, number][]) {
    const runs = ort.runs.filter((r) => r.graph === g);
    if (runs.length === 0) return undefined;
    const batch = batchOf(g);
    const run =
      batch === 'best'
        ? runs.reduce((a, b) => (b.cpuMsPerItem < a.cpuMsPerItem ? b : a))
        : runs.reduce((a, b) => (Math.abs(Math.log(b.batch / batch)) < Math.abs(Math.log(a.batch / batch)) ? b : a));
    ms += items * run.cpuMsPerItem;
  }
  return ms;
}

export interface HttpOptions {
  readonly bundleDir: string;
  readonly routes: readonly RouteName[];
  readonly concurrency: readonly number[];
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly minRequests: number;
  readonly maxSeconds: number;
  readonly server: ServerSettings;
  readonly ort?: OrtResults;
  /** route@concurrency points not to measure. */
  readonly skip?: readonly string[];
}

export async function runHttpBench(options: HttpOptions): Promise<HttpResults> {
  const bundle = readBundle(options.bundleDir);
  const jpeg = await picture(IMAGE_WIDTH, 'jpeg');
  const jpegBase64 = jpeg.toString('base64');
  const ort = options.ort?.bundles.find((b) => b.bundle === bundle.id);
  console.log(`${bundle.id}: starting the service (max delay ${options.server.maxDelayMs} ms)`);
  const service = await startService(bundle.dir, options.server);
  const idleRssMiB = service.rss() / MiB;
  await scrape(service.url); // resets the event-loop histogram
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idle = await scrape(service.url);
  const idleEventLoopLagMs = {
    p50: 1000 * metricSum(idle, 'toklip_nodejs_eventloop_lag_p50_seconds'),
    p99: 1000 * metricSum(idle, 'toklip_nodejs_eventloop_lag_p99_seconds'),
  };
  console.log(`  ready in ${service.startSeconds.toFixed(1)} s, ${service.layout.workers} worker(s) x ${service.layout.intraOpThreads} threads, max batch ${service.layout.maxBatch}, RSS ${idleRssMiB.toFixed(0)} MiB, idle event-loop gauges p50 ${fmt(idleEventLoopLagMs.p50)} / p99 ${fmt(idleEventLoopLagMs.p99)} ms (sampling every ${EVENT_LOOP_SAMPLING_MS} ms)`);
  const points: HttpPoint[] = [];
  const skip = new Set(options.skip ?? []);
  const skipped: string[] = [];
  try {
    for (const route of options.routes) {
      if (!routeAvailable(route, bundle)) {
        console.log(`  ${route}: skipped (the bundle lacks a graph it needs)`);
        continue;
      }
      const spec = await requestFor(route, bundle, jpegBase64);
      const probe = await fetch(`${service.url}${spec.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: spec.body });
      if (probe.status !== 200) throw new Error(`${route}: probe request answered ${probe.status}: ${await probe.text()}`);
      await probe.arrayBuffer();
      for (const concurrency of options.concurrency) {
        if (skip.has(`${route}@${concurrency}`)) {
          console.log(`  ${route.padEnd(13)} c=${String(concurrency).padStart(2)}: skipped (--skip)`);
          skipped.push(`${route}@${concurrency}`);
          continue;
        }
        let before = new Map<string, number>();
        let after = new Map<string, number>();
        let rssPeak = 0;
        let cpuStart = 0;
        let cpuEnd = 0;
        const load = await closedLoop({
          url: service.url,
          path: spec.path,
          body: spec.body,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          concurrency,
          warmupSeconds: options.warmupSeconds,
          durationSeconds: options.durationSeconds,
          minRequests: options.minRequests,
          maxSeconds: options.maxSeconds,
          onWindow: async (edge) => {
            if (edge === 'start') {
              before = await scrape(service.url);
              cpuStart = service.cpuMs();
            } else {
              cpuEnd = service.cpuMs();
              after = await scrape(service.url);
              rssPeak = service.rss();
            }
          },
        });
        const graphs: Partial<Record<GraphName, GraphStats>> = {};
        for (const g of Object.keys(ROUTE_GRAPHS[route]) as GraphName[]) {
          const delta = (name: string) => metricSum(after, name, { graph: g }) - metricSum(before, name, { graph: g });
          const batches = delta('toklip_batch_size_count');
          graphs[g] = {
            batches,
            meanBatch: batches > 0 ? delta('toklip_batch_size_sum') / batches : Number.NaN,
            meanInferenceMs: batches > 0 ? (1000 * delta('toklip_inference_time_seconds_sum')) / delta('toklip_inference_time_seconds_count') : Number.NaN,
          };
        }
        const lag = (q: string) => 1000 * metricSum(after, `toklip_nodejs_eventloop_lag_${q}_seconds`);
        const atFormed = ortEquivalent(route, ort, (g) => graphs[g]?.meanBatch || 1);
        const atBest = ortEquivalent(route, ort, () => 'best');
        const cpuMsPerRequest = (cpuEnd - cpuStart) / load.seconds / load.requestsPerSecond;
        const cpuAtFormed = ortCpuEquivalent(route, ort, (g) => graphs[g]?.meanBatch || 1);
        const cpuAtBest = ortCpuEquivalent(route, ort, () => 'best');
        const l = load.latenciesMs;
        const point: HttpPoint = {
          route,
          concurrency,
          completed: load.completed,
          seconds: load.seconds,
          requestsPerSecond: load.requestsPerSecond,
          windowRequestsPerSecond: load.windowRequestsPerSecond,
          latencyMs: { p50: percentile(l, 50), p95: percentile(l, 95), p99: percentile(l, 99), mean: l.length ? mean(l) : Number.NaN, max: l[l.length - 1] ?? Number.NaN },
          errors: load.errors,
          graphs,
          eventLoopLagMs: { p50: lag('p50'), p99: lag('p99'), max: lag('max') },
          eventLoopDelayMs: { p50: eventLoopLagMs(after, 'p50'), p99: eventLoopLagMs(after, 'p99'), max: eventLoopLagMs(after, 'max') },
          eventLoopSamplingMs: EVENT_LOOP_SAMPLING_MS,
          serverRssMiB: rssPeak / MiB,
          cpuMsPerRequest,
          ...(cpuAtFormed !== undefined ? { cpuRatioAtFormedBatch: cpuAtFormed / cpuMsPerRequest } : {}),
          ...(cpuAtBest !== undefined ? { cpuRatioAtBestBatch: cpuAtBest / cpuMsPerRequest } : {}),
          ...(atFormed !== undefined ? { ortAtFormedBatch: atFormed, ratioAtFormedBatch: load.requestsPerSecond / atFormed } : {}),
          ...(atBest !== undefined ? { ortAtBestBatch: atBest, ratioAtBestBatch: load.requestsPerSecond / atBest } : {}),
        };
        points.push(point);
        const errorCount = Object.values(load.errors).reduce((a, b) => a + b, 0);
        console.log(
          `  ${route.padEnd(13)} c=${String(concurrency).padStart(2)}: ${fmt(point.requestsPerSecond).padStart(6)} req/s  p50 ${fmt(point.latencyMs.p50)} p99 ${fmt(point.latencyMs.p99)} ms  ` +
            `batch ${Object.values(graphs).map((s) => fmt(s.meanBatch)).join('/')}  loop delay p99 ${fmt(loopDelayP99(point))} ms  errors ${errorCount}` +
            (point.ratioAtBestBatch !== undefined ? `  vs ORT best ${fmt(point.ratioAtBestBatch)}x (CPU ${fmt(point.cpuRatioAtBestBatch ?? Number.NaN)}x)` : ''),
        );
      }
    }
  } finally {
    await service.stop();
  }
  return {
    bundle: bundle.id,
    server: { ...options.server, startSeconds: service.startSeconds, idleRssMiB, idleEventLoopLagMs, layout: service.layout },
    image: { width: IMAGE_WIDTH, height: Math.round((IMAGE_WIDTH * 3) / 4), bytes: jpeg.length },
    window: { warmupSeconds: options.warmupSeconds, durationSeconds: options.durationSeconds, minRequests: options.minRequests },
    points,
    skipped,
  };
}

/**
 * The event loop's lag p99 at a point, ms: the monitor's p99 interval minus its sampling
 * interval (results written before eventLoopDelayMs existed used the same 10 ms interval).
 */
export function loopDelayP99(p: HttpPoint): number {
  return p.eventLoopDelayMs?.p99 ?? Math.max(0, p.eventLoopLagMs.p99 - (p.eventLoopSamplingMs ?? EVENT_LOOP_SAMPLING_MS));
}

export function printHttp(results: HttpResults): void {
  const layout = results.server.layout ?? results.server;
  console.log(`\nHTTP service, ${results.bundle}, ${layout.workers} worker(s) x ${layout.intraOpThreads} threads, max batch ${results.server.layout?.maxBatch ?? results.server.maxBatch}, max delay ${results.server.maxDelayMs} ms`);
  console.log(
    formatTable(
      ['route', 'conc', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'mean batch', 'errors', 'loop delay p99 ms', 'ORT@batch req/s', 'ratio', 'ORT@best req/s', 'ratio', 'CPU ms/req', 'CPU ratio@batch', 'CPU ratio@best'],
      results.points.map((p) => [
        p.route,
        p.concurrency,
        p.requestsPerSecond,
        p.latencyMs.p50,
        p.latencyMs.p95,
        p.latencyMs.p99,
        Object.values(p.graphs).map((s) => fmt(s.meanBatch)).join(' / '),
        Object.values(p.errors).reduce((a, b) => a + b, 0),
        loopDelayP99(p),
        p.ortAtFormedBatch ?? '-',
        p.ratioAtFormedBatch ?? '-',
        p.ortAtBestBatch ?? '-',
        p.ratioAtBestBatch ?? '-',
        p.cpuMsPerRequest,
        p.cpuRatioAtFormedBatch ?? '-',
        p.cpuRatioAtBestBatch ?? '-',
      ]),
    ),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string', multiple: true },
      routes: { type: 'string', default: ROUTES.join(',') },
      concurrency: { type: 'string', default: '1,8,32' },
      warmup: { type: 'string', default: '5' },
      duration: { type: 'string', default: '20' },
      'min-requests': { type: 'string', default: '0' },
      'max-seconds': { type: 'string', default: '300' },
      workers: { type: 'string', default: '0' },
      'intra-op-threads': { type: 'string', default: '0' },
      'intra-op-spinning': { type: 'string', default: 'false' },
      'max-batch': { type: 'string', default: '0' },
      'max-delay-ms': { type: 'string', default: '5' },
      device: { type: 'string', default: 'cpu' },
      env: { type: 'string', default: '' },
      label: { type: 'string', default: 'http' },
      skip: { type: 'string', default: '' },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const dirs = values.bundle ?? defaultBundleDirs().slice(0, 1);
  const env: Record<string, string> = Object.fromEntries(values.env.split(',').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]));
  for (const name of Object.keys(env)) if (!/^TOKLIP_[A-Z_]+$/.test(name)) throw new Error(`--env takes TOKLIP_NAME=VALUE, not ${name}`);
  if (values.device !== 'cpu') env.TOKLIP_DEVICE = values.device;
  const server: ServerSettings = {
    workers: Number(values.workers),
    intraOpThreads: Number(values['intra-op-threads']),
    intraOpSpinning: values['intra-op-spinning'] === 'true',
    maxBatch: Number(values['max-batch']),
    maxDelayMs: Number(values['max-delay-ms']),
    ...(Object.keys(env).length > 0 ? { env } : {}),
  };
  const routes = values.routes.split(',') as RouteName[];
  for (const r of routes) if (!ROUTES.includes(r)) throw new Error(`unknown route ${r} (one of ${ROUTES.join(', ')})`);
  const skip = values.skip.split(',').filter(Boolean);
  for (const s of skip) if (!/^[a-z-]+@\d+$/.test(s) || !ROUTES.includes(s.split('@')[0] as RouteName)) throw new Error(`--skip takes ROUTE@CONCURRENCY, not ${s}`);
  const settings = {
    routes,
    concurrency: intList(values.concurrency),
    warmupSeconds: Number(values.warmup),
    durationSeconds: Number(values.duration),
    minRequests: Number(values['min-requests']),
    maxSeconds: Number(values['max-seconds']),
    server,
    skip,
    bundles: dirs,
  };
  const run = new Run<HttpResults[]>(values.label, settings);
  const ort = readResult<OrtResults>(join(values.out, 'ort.json'))?.results;
  const all: HttpResults[] = [];
  for (const dir of dirs) {
    const result = await runHttpBench({ bundleDir: dir, ...settings, ...(ort ? { ort } : {}) });
    printHttp(result);
    all.push(result);
  }
  run.finish(all, values.out);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
