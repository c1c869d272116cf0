/**
 * Rebuilds the generated parts of docs/benchmarks.md from bench/results/*.json: every table
 * sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers and is replaced as a
 * whole; the prose around them is left alone. Numbers are never typed into the document.
 *
 *   npm run bench:report -- [--results bench/results] [--doc docs/benchmarks.md]
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, GiB, MiB, REPO_ROOT, type ResultFile, fmt, readResult } from './lib/common.js';
import type { GraphName } from './lib/bundle.js';
import { type CacheResults, TARGETS as CACHE_TARGETS } from './cache.js';
import { type HttpPoint, type HttpResults, loopDelayP99 } from './http.js';
import { EVENT_LOOP_SAMPLING_MS } from '../src/metrics.js';
import { type OrtResults, ortRunAt } from './ort.js';
import { type PeakResults, shapeLabel } from './peak.js';
import type { PreprocessResults } from './preprocess.js';
import type { TorchResults } from './torch.js';
import type { HttpExperiment, RawExperiment, TuneResult } from './tune.js';

const { values } = parseArgs({
  options: {
    results: { type: 'string', default: DEFAULT_OUT },
    doc: { type: 'string', default: join(REPO_ROOT, 'docs', 'benchmarks.md') },
  },
});

function table(headers: readonly string[], rows: readonly (readonly (string | number | undefined)[])[]): string {
  const cell = (c: string | number | undefined) => (c === undefined ? '-' : typeof c === 'number' ? fmt(c) : c);
  const align = headers.map((_, i) => (rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] === undefined) ? '---:' : '---'));
  return [`| ${headers.join(' | ')} |`, `| ${align.join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

function load<T>(name: string): ResultFile<T> | undefined {
  return readResult<T>(join(values.results, `${name}.json`));
}

const peak = load<PeakResults>('peak');
const ort = load<OrtResults>('ort');
const torch = load<TorchResults>('torch');
const preprocess = load<PreprocessResults>('preprocess');
const httpFiles = readdirSync(values.results)
  .filter((f) => /^http.*\.json$/.test(f))
  .sort()
  .map((f) => load<HttpResults[]>(f.replace(/\.json$/, ''))!)
  .filter(Boolean);
const tuneFiles = readdirSync(values.results)
  .filter((f) => /^tune-.*\.json$/.test(f))
  .sort()
  .map((f) => load<TuneResult>(f.replace(/\.json$/, ''))!)
  .filter(Boolean);
const cache = load<CacheResults>('cache');
const all = ([peak, ort, torch, preprocess, ...httpFiles, ...tuneFiles, cache] as (ResultFile<unknown> | undefined)[]).filter((x): x is ResultFile<unknown> => x !== undefined);

interface RunRecord {
  readonly command: string;
  readonly budget: string | null;
  readonly started: string;
  readonly reruns?: readonly string[];
  readonly steps: readonly { command: string; note?: string; started: string; seconds: number; status: number | null }[];
}
const runRecord = (() => {
  try {
    return JSON.parse(readFileSync(join(values.results, 'run.json'), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
})();

const peakGflops = peak?.results.peakGflopsPerSecond;
const pct = (gflops: number) => (peakGflops ? (100 * gflops) / peakGflops : undefined);
const bestRun = (bundle: OrtResults['bundles'][number], graph: string) =>
  bundle.runs.filter((r) => r.graph === graph).reduce<(typeof bundle.runs)[number] | undefined>((a, b) => (a === undefined || b.itemsPerSecond > a.itemsPerSecond ? b : a), undefined);
const pctCpu = (gflops: number) => (peak ? (100 * gflops) / peak.results.peakGflopsPerCpuSecond : undefined);
const bestCpuRun = (bundle: OrtResults['bundles'][number], graph: string) =>
  bundle.runs.filter((r) => r.graph === graph).reduce<(typeof bundle.runs)[number] | undefined>((a, b) => (a === undefined || b.cpuMsPerItem < a.cpuMsPerItem ? b : a), undefined);
const pass = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**');

function machineSection(): string {
  const m = all[0]?.machine;
  if (!m) return '_no results yet_';
  const lines = [
    `- CPU: ${m.cpu}, ${m.cores} cores (as the benchmark process sees them); memory ${m.memoryGiB} GiB`,
    `- Node ${m.node}, onnxruntime-node ${m.onnxruntime}; commit ${m.commit}`,
  ];
  if (torch?.results.bundles[0]) {
    const t = torch.results.bundles[0].torch;
    lines.push(`- PyTorch ${t.version} (Debian), ${t.threads} threads, BLAS mapped by the process: ${t.blas.filter((l) => /blas|lapack/.test(l)).map((l) => `\`${l}\``).join(', ')}`);
  }
  lines.push('', 'Load on the shared machine while each result file was produced (1/5/15-minute load averages at start and end):', '');
  lines.push(
    table(
      ['result', 'started (UTC)', 'load at start', 'load at end', 'busiest processes at start (%CPU RSS-KiB command)'],
      all.map((f) => [
        f.benchmark,
        f.started.replace('T', ' ').slice(0, 16),
        f.loadBefore.loadavg.join(' / '),
        f.loadAfter.loadavg.join(' / '),
        f.loadBefore.top.slice(0, 3).join('; '),
      ]),
    ),
  );
  return lines.join('\n');
}

function runSection(): string {
  if (!runRecord) return '_no run record (bench/results/run.json): the result files were made by the scripts one by one_';
  const minutes = runRecord.steps.reduce((a, x) => a + x.seconds, 0) / 60;
  return [
    `\`${runRecord.command}\`, started ${runRecord.started.replace('T', ' ').slice(0, 16)} UTC, ${fmt(minutes)} minutes of measurement in ${runRecord.steps.length} steps (then the report):`,
    '',
    table(
      ['step', 'command', 'started (UTC)', 'minutes', 'exit'],
      runRecord.steps.map((x) => [x.note ?? '', `\`${x.command}\``, x.started.slice(11, 16), x.seconds / 60, x.status ?? 'killed']),
    ),
    ...(runRecord.reruns && runRecord.reruns.length > 0 ? ['', `Steps re-run afterwards (their rows above): ${runRecord.reruns.map((r) => `\`${r}\``).join(', ')}.`] : []),
  ].join('\n');
}

function ortTiming(b: OrtResults['bundles'][number]): string {
  const t = b.timing;
  if (!t) return '';
  const warm = t.warmup === 'graph' ? 'one untimed run per graph (at its first batch size)' : 'one untimed run per batch size';
  const cap = t.maxPointSeconds !== undefined ? `; points predicted to take over ${t.maxPointSeconds} s left out` : '';
  return `Timing: ${warm}, then timed runs until ${t.targetSeconds} s were spent or ${t.maxIterations} runs were made (at least one)${cap}.`;
}

function ortSection(): string {
  if (!ort) return '_not run_';
  const out = [`${ort.results.threads} intra-op threads, the service's session options (\`sessionOptions\` from src/inference). ms = median of the timed runs; items/s over all timed runs.`, ''];
  for (const b of ort.results.bundles) {
    const load = b.measured ? `; load average ${b.measured.loadBefore.loadavg[0]} at start, ${b.measured.loadAfter.loadavg[0]} at end (${b.measured.loadBefore.at.slice(0, 16).replace('T', ' ')} UTC)` : '';
    out.push(`**${b.bundle}** (${b.imageSize} px, ${b.numTokens} tokens, ${b.dtype}, weights ${fmt(b.weightBytes / MiB)} MiB${load})`, '');
    if (b.timing) out.push(ortTiming(b), '');
    const graphs = [...new Set(b.runs.map((r) => r.graph))];
    const batches = [...new Set(b.runs.map((r) => r.batch))].sort((x, y) => x - y);
    out.push(
      table(
        ['graph', 'GFLOP/item', ...batches.map((n) => `b=${n} ms`), ...batches.map((n) => `b=${n} items/s`)],
        graphs.map((g) => {
          const at = (n: number) => b.runs.find((r) => r.graph === g && r.batch === n);
          return [g, (b.flopsPerItem[g as GraphName] ?? 0) / 1e9, ...batches.map((n) => at(n)?.medianMs), ...batches.map((n) => at(n)?.itemsPerSecond)];
        }),
      ),
    );
    if (b.skipped.length > 0) out.push('', `Left out (time cap): ${b.skipped.map((s) => `${s.graph} b=${s.batch} (predicted ${fmt(s.predictedSeconds)} s)`).join(', ')}`);
    out.push('');
  }
  return out.join('\n');
}

function gflopsSection(): string {
  if (!ort) return '_not run_';
  const rows = ort.results.bundles.flatMap((b) =>
    [...new Set(b.runs.map((r) => r.graph))].map((g) => {
      const best = bestRun(b, g)!;
      const bestCpu = bestCpuRun(b, g)!;
      return [
        b.bundle,
        g,
        (b.flopsPerItem[g as GraphName] ?? 0) / 1e9,
        best.batch,
        best.gflopsPerSecond,
        pct(best.gflopsPerSecond),
        bestCpu.batch,
        bestCpu.gflopsPerCpuSecond,
        pctCpu(bestCpu.gflopsPerCpuSecond),
      ];
    }),
  );
  return table(['bundle', 'graph', 'GFLOP/item', 'best batch (wall)', 'GFLOP/s', '% of GEMM peak', 'best batch (CPU)', 'GFLOP per CPU-s', '% of GEMM peak per CPU-s'], rows);
}

function peakSection(): string {
  if (!peak) return '_not run_';
  const p = peak.results;
  const rows = [
    ...p.ort.points.map((x) => [`onnxruntime ${peak.machine.onnxruntime} (${x.depth ? 'MatMul chain graph' : 'one-node MatMul graph'})`, shapeLabel(x, ' x '), x.medianMs, x.gflopsPerSecond, x.gflopsPerCpuSecond]),
    ...p.torch.points.map((x) => [`torch ${p.torch.version} (torch.matmul)`, shapeLabel(x, ' x '), x.medianMs, x.gflopsPerSecond, x.gflopsPerCpuSecond]),
  ];
  return [
    table(['runtime', 'M x K x N', 'median ms', 'GFLOP/s', 'GFLOP per CPU-s'], rows),
    '',
    `Peak used for "% of peak": **${fmt(p.peakGflopsPerSecond)} GFLOP/s** of wall time and **${fmt(p.peakGflopsPerCpuSecond)} GFLOP per CPU-second** (float32, ${p.threads} threads, the best of all rows).`,
  ].join('\n');
}

function torchSection(): string {
  if (!torch) return '_not run_';
  const rows = torch.results.bundles.flatMap((b) =>
    b.runs.map((r) => {
      const o = ortRunAt(ort?.results, b.bundle, r.graph, r.batch);
      return [
        b.bundle,
        r.graph,
        r.batch,
        r.medianMs,
        r.itemsPerSecond,
        o?.medianMs,
        o?.itemsPerSecond,
        o ? o.itemsPerSecond / r.itemsPerSecond : undefined,
        r.cpuMsPerItem,
        o?.cpuMsPerItem,
        o ? r.cpuMsPerItem / o.cpuMsPerItem : undefined,
      ];
    }),
  );
  const notes = torch.results.bundles.map(
    (b) =>
      `- ${b.bundle}: weights ${b.weights}; built in ${fmt(b.buildSeconds)} s` +
      (b.timing ? `; batch sizes ${b.timing.batches.join(', ')}, one untimed run per graph, then timed runs until ${b.timing.targetSeconds} s or ${b.timing.maxIterations} runs` : '') +
      (b.measured ? `; load average ${b.measured.loadBefore.loadavg[0]} at start, ${b.measured.loadAfter.loadavg[0]} at end` : ''),
  );
  return [`PyTorch eager (\`torch.inference_mode\`), ${torch.results.threads} threads, same inputs as ONNX Runtime.`, '', ...notes, '', table(['bundle', 'graph', 'batch', 'torch ms', 'torch items/s', 'ORT ms', 'ORT items/s', 'ORT / torch', 'torch CPU ms/item', 'ORT CPU ms/item', 'ORT / torch (CPU)'], rows)].join('\n');
}

function httpRows(points: readonly HttpPoint[], bundle: string) {
  return points.map((p) => [
    bundle,
    p.route,
    p.concurrency,
    p.completed,
    p.requestsPerSecond,
    p.latencyMs.p50,
    p.latencyMs.p95,
    p.latencyMs.p99,
    Object.values(p.graphs)
      .map((s) => fmt(s.meanBatch))
      .join(' / '),
    Object.values(p.errors).reduce((a, b) => a + b, 0),
    loopDelayP99(p),
    p.ratioAtFormedBatch,
    p.ratioAtBestBatch,
    p.cpuMsPerRequest,
    p.cpuRatioAtFormedBatch,
    p.cpuRatioAtBestBatch,
  ]);
}

const HTTP_HEADERS = [
  'bundle',
  'route',
  'conc',
  'answers',
  'req/s',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'mean batch',
  'errors',
  'loop delay p99 ms',
  'vs ORT at that batch',
  'vs ORT best batch',
  'server CPU ms/req',
  'vs ORT CPU at that batch',
  'vs ORT CPU best batch',
];

function httpSection(): string {
  const runs = httpFiles.flatMap((f) => f.results);
  if (runs.length === 0) return '_not run_';
  const out: string[] = [];
  for (const r of runs) {
    const s = r.server;
    const layout = s.layout ?? s;
    const spinning = s.intraOpSpinning === undefined ? '' : `, intra-op spinning ${s.intraOpSpinning ? 'on' : 'off'}`;
    out.push(
      `**${r.bundle}**: ${layout.workers} worker(s) x ${layout.intraOpThreads} intra-op threads${s.workers === 0 ? ' (the automatic layout)' : ''}${spinning}, max batch ${layout.maxBatch ?? s.maxBatch}${s.maxBatch === 0 ? ' (automatic)' : ''}, max delay ${s.maxDelayMs} ms, log level info; images: one ${r.image.width}x${r.image.height} JPEG (${fmt(r.image.bytes / 1024)} KiB) per request; similarity: 1 token row + 2 texts. Server RSS when idle ${fmt(r.server.idleRssMiB)} MiB.${r.server.idleEventLoopLagMs ? ` Event-loop gauges with no load: p50 ${fmt(r.server.idleEventLoopLagMs.p50)}, p99 ${fmt(r.server.idleEventLoopLagMs.p99)} ms (the ${EVENT_LOOP_SAMPLING_MS} ms sampling interval; the loop delay column subtracts it).` : ''}`,
      '',
      ...(r.window
        ? [`Load: warm-up until every client got an answer${r.window.warmupSeconds > 0 ? ` and ${r.window.warmupSeconds} s passed` : ''}, then a window of at least ${[r.window.durationSeconds > 0 ? `${r.window.durationSeconds} s` : '', r.window.minRequests > 0 ? `${r.window.minRequests} answers` : ''].filter(Boolean).join(' and ') || 'one answer'}.`, '']
        : []),
      table(HTTP_HEADERS, httpRows(r.points, r.bundle)),
      '',
      ...(r.skipped && r.skipped.length > 0 ? [`Not measured on ${r.bundle} (time budget): ${r.skipped.map((x) => x.replace('@', ' at concurrency ')).join(', ')}.`, ''] : []),
    );
  }
  out.push('Ratios: service requests/s divided by the requests/s raw ONNX Runtime reaches doing one request\'s graph calls (encode image = vq_encoder + semantic_encoder; similarity = semantic_encoder + 2 x text_encoder) at the nearest measured batch size to the mean batch formed, and at the best batch size.');
  return out.join('\n');
}

function preprocessSection(): string {
  if (!preprocess) return '_not run_';
  const p = preprocess.results;
  return [
    `sharp ${p.sharp}, libvips ${p.libvips}, ${p.vipsThreads} libvips thread, median of ${p.iterations} runs${p.warmup !== undefined ? ` after ${p.warmup} warm-up images` : ''}, one image at a time in one thread (ms per image)` +
      (p.allocator?.glibc !== undefined ? `; glibc ${p.allocator.glibc} malloc ${p.allocator.tuned ? 'with' : 'without'} the service's GLIBC_TUNABLES (src/engine/allocator.ts)` : '') +
      ':',
    '',
    table(
      ['format', 'input', 'R', 'decode', 'resample', 'normalise', 'total (median)', 'best'],
      p.points.map((x) => [x.format, `${x.width}x${x.height}`, x.size, x.decodeMs, x.resampleMs, x.normalizeMs, x.totalMs, x.bestMs]),
    ),
    '',
    `Worker pool (${p.pool.threads} threads): ${fmt(p.pool.imagesPerSecond)} JPEG 1024x768 images/s at R = 256.`,
  ].join('\n');
}

function memorySection(): string {
  if (!ort) return '_not run_';
  return table(
    ['bundle', 'weights MiB', 'RSS after creating all sessions MiB (minus Node baseline)', 'RSS / weights', 'session creation s', 'peak RSS during the runs GiB'],
    ort.results.bundles.map((b) => [
      b.bundle,
      b.weightBytes / MiB,
      (b.memory.loadedRss - b.memory.baselineRss) / MiB,
      (b.memory.loadedRss - b.memory.baselineRss) / b.weightBytes,
      b.memory.sessions.reduce((a, s) => a + s.createMs, 0) / 1000,
      b.memory.peakRss / GiB,
    ]),
  );
}

function tuneSection(): string {
  if (tuneFiles.length === 0) return '_not run_';
  const out: string[] = [];
  for (const f of tuneFiles) {
    const r = f.results;
    out.push(`**${f.benchmark.replace('tune-', '')}** on ${r.bundle} (current choice: ${r.current})`, '');
    if (r.kind === 'raw') {
      const raw = r as RawExperiment;
      // One row per (graph, batch), one items/s column per variant.
      const keys = [...new Map(raw.variants.flatMap((v) => v.runs.map((run) => [`${run.graph}@${run.batch}`, run] as const))).values()];
      const rows: (string | number | undefined)[][] = keys.map((k) => [
        k.graph,
        k.batch,
        ...raw.variants.map((v) => v.runs.find((run) => run.graph === k.graph && run.batch === k.batch)?.itemsPerSecond),
      ]);
      for (const d of raw.derived ?? []) {
        rows.push([`vq_encoder + semantic_encoder (${d.variant}, from its parts)`, d.batch, ...raw.variants.map((v) => (v.variant === d.variant ? d.itemsPerSecond : undefined))]);
      }
      rows.push(['session creation, s (all graphs)', undefined, ...raw.variants.map((v) => v.createMs / 1000)]);
      rows.push(['peak RSS, GiB', undefined, ...raw.variants.map((v) => v.peakRssGiB)]);
      out.push(table(['graph', 'batch', ...raw.variants.map((v) => `${v.variant} items/s`)], rows));
    } else {
      const h = r as HttpExperiment;
      out.push(table(['variant', ...HTTP_HEADERS], h.variants.flatMap((v) => httpRows(v.result.points, v.result.bundle).map((row) => [v.variant, ...row]))));
    }
    out.push('');
  }
  return out.join('\n');
}

function targetsSection(): string {
  const rows: (string | number | undefined)[][] = [];
  const http = httpFiles.flatMap((f) => f.results);
  for (const r of http) {
    for (const route of ['tokenize', 'encode-image', 'encode-tokens'] as const) {
      const p = r.points.find((x) => x.route === route && x.concurrency === 32);
      if (!p && r.skipped?.includes(`${route}@32`)) {
        // Another result file (e.g. a later run of that point alone) may hold it.
        const elsewhere = http.some((o) => o.bundle === r.bundle && o.points.some((x) => x.route === route && x.concurrency === 32));
        if (!elsewhere) rows.push([`service at concurrency 32 >= 0.9 x raw ORT at its best batch size (${route}, ${r.bundle})`, undefined, 'not measured (time budget)']);
        continue;
      }
      // A result file that measured other routes only (a point run alone) says nothing here.
      if (!p && !r.points.some((x) => x.route === route)) continue;
      rows.push([`service at concurrency 32 >= 0.9 x raw ORT at its best batch size (${route}, ${r.bundle}); wall-clock ratio`, p?.ratioAtBestBatch, pass(p?.ratioAtBestBatch === undefined ? undefined : p.ratioAtBestBatch >= 0.9)]);
      rows.push([`... the same in CPU time (raw ORT CPU per request / service CPU per request)`, p?.cpuRatioAtBestBatch, pass(p?.cpuRatioAtBestBatch === undefined ? undefined : p.cpuRatioAtBestBatch >= 0.9)]);
    }
  }
  for (const b of cache?.results.bundles ?? []) {
    for (const [workload, ratio] of Object.entries(b.ratios) as [keyof typeof CACHE_TARGETS, number][]) {
      const what = workload === 'repeat90' ? '9 of 10 images seen before' : 'no image seen before';
      rows.push([`result cache at concurrency ${b.concurrency}, ${what}: cache on >= ${CACHE_TARGETS[workload]} x off (${b.operation}, ${b.bundle}); images/s ratio`, ratio, pass(ratio >= CACHE_TARGETS[workload])]);
    }
  }
  if (torch && ort) {
    for (const b of torch.results.bundles) {
      const o = ort.results.bundles.find((x) => x.bundle === b.bundle);
      if (!o) continue;
      for (const g of [...new Set(b.runs.map((r) => r.graph))]) {
        const ratios = b.runs.filter((r) => r.graph === g).map((r) => {
          const x = o.runs.find((y) => y.graph === g && y.batch === r.batch);
          return x ? x.itemsPerSecond / r.itemsPerSecond : Number.NaN;
        });
        const worst = Math.min(...ratios.filter(Number.isFinite));
        rows.push([`ORT >= PyTorch eager at every batch size measured (${g}, ${b.bundle}); worst ORT/torch ratio`, worst, pass(Number.isFinite(worst) ? worst >= 1 : undefined)]);
        const cpuRatios = b.runs.map((r) => {
          const x = o.runs.find((y) => y.graph === g && y.batch === r.batch);
          return x ? r.cpuMsPerItem / x.cpuMsPerItem : Number.NaN;
        });
        const worstCpu = Math.min(...cpuRatios.filter(Number.isFinite));
        rows.push([`... the same in CPU time (torch CPU per item / ORT CPU per item)`, worstCpu, pass(Number.isFinite(worstCpu) ? worstCpu >= 1 : undefined)]);
      }
    }
  }
  if (ort) {
    for (const b of ort.results.bundles) {
      const best = bestRun(b, 'semantic_encoder');
      if (!best) continue;
      const share = pct(best.gflopsPerSecond);
      rows.push([`semantic encoder >= 60 % of the GEMM peak (${b.bundle}, best batch ${best.batch}); % of peak`, share, pass(share === undefined ? undefined : share >= 60)]);
      const bestCpu = bestCpuRun(b, 'semantic_encoder')!;
      const shareCpu = pctCpu(bestCpu.gflopsPerCpuSecond);
      rows.push([`... the same per CPU-second (best batch ${bestCpu.batch})`, shareCpu, pass(shareCpu === undefined ? undefined : shareCpu >= 60)]);
    }
  }
  if (preprocess) {
    for (const x of preprocess.results.points.filter((p) => p.format === 'jpeg' && p.width === 1024)) {
      rows.push([`preprocessing a 1024 px JPEG <= 15 ms (R = ${x.size}); median ms`, x.totalMs, pass(x.totalMs <= 15)]);
    }
  }
  for (const r of http) {
    const full = r.points.filter((p) => p.concurrency === Math.max(...r.points.map((x) => x.concurrency)));
    if (full.length === 0) continue;
    const worst = Math.max(...full.map(loopDelayP99));
    rows.push([`event-loop lag p99 < 20 ms under full load (${r.bundle}, worst route at concurrency ${full[0]!.concurrency}); ms`, worst, pass(worst < 20)]);
  }
  return rows.length === 0 ? '_no results yet_' : table(['target', 'measured', 'result'], rows);
}

/** The result cache under load (bench/cache.ts): cache on against off, per workload, in one run. */
function cacheSection(): string {
  if (!cache) return '_no results yet_';
  const r = cache.results;
  const minutes = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 60000);
  const lines = [`Last run: \`${cache.command}\`. Each bundle was measured in one run (its settings in turn, one service at a time):`, ''];
  lines.push(
    table(
      ['bundle', 'started (UTC)', 'minutes', 'load at start', 'load at end', 'busiest processes at start (%CPU RSS-KiB command)'],
      r.bundles.map((b) => {
        const m = b.measured ?? { started: cache.started, finished: cache.finished, loadBefore: cache.loadBefore, loadAfter: cache.loadAfter };
        return [b.bundle, m.started.replace('T', ' ').slice(0, 16), minutes(m.started, m.finished), m.loadBefore.loadavg.join(' / '), m.loadAfter.loadavg.join(' / '), m.loadBefore.top.slice(0, 3).join('; ')];
      }),
    ),
    '',
  );
  const summary: (string | number | undefined)[][] = [];
  const detail: (string | number | undefined)[][] = [];
  for (const b of r.bundles) {
    for (const [workload, ratio] of Object.entries(b.ratios) as [keyof typeof CACHE_TARGETS, number][]) {
      const rates = (setting: 'on' | 'off') => b.points.filter((p) => p.workload === workload && p.cache === setting).map((p) => p.imagesPerSecond);
      const meanOf = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
      const cpu = (setting: 'on' | 'off') => {
        const xs = b.points.filter((p) => p.workload === workload && p.cache === setting && p.cpuMsPerImage !== undefined).map((p) => p.cpuMsPerImage!);
        return xs.length > 0 ? meanOf(xs) : undefined;
      };
      summary.push([b.bundle, b.operation, workload, meanOf(rates('off')), meanOf(rates('on')), ratio, `>= ${CACHE_TARGETS[workload]}`, pass(ratio >= CACHE_TARGETS[workload]), cpu('off'), cpu('on')]);
    }
    for (const p of b.points) {
      const items = p.hits + p.misses;
      detail.push([
        b.bundle,
        p.workload,
        p.position + 1,
        p.cache,
        p.imagesPerSecond,
        p.answersPerSecond,
        p.latencyMs.p50,
        p.latencyMs.p99,
        p.completed,
        items > 0 ? (100 * p.hits) / items : undefined,
        p.computedImages,
        p.cpuMsPerImage,
        Object.keys(p.errors).length > 0 ? JSON.stringify(p.errors) : '-',
      ]);
    }
  }
  lines.push(
    `Concurrency ${r.bundles[0]?.concurrency ?? '-'}; one JPEG per request; images/s = concurrency / mean latency (closed loop); each setting's figure is the mean of its windows.`,
    '',
    table(['bundle', 'operation', 'workload', 'cache off images/s', 'cache on images/s', 'on / off', 'target', 'result', 'server CPU ms / image off', 'on'], summary),
    '',
    'Each window, in the order run (hit share and images computed from `/metrics` over the window):',
    '',
    table(['bundle', 'workload', '#', 'cache', 'images/s', 'answers / window s', 'p50 ms', 'p99 ms', 'answers', 'hit %', 'images computed', 'server CPU ms / image', 'errors'], detail),
  );
  return lines.join('\n');
}

const sections: Record<string, () => string> = {
  machine: machineSection,
  run: runSection,
  targets: targetsSection,
  peak: peakSection,
  ort: ortSection,
  gflops: gflopsSection,
  torch: torchSection,
  http: httpSection,
  preprocess: preprocessSection,
  memory: memorySection,
  tune: tuneSection,
  cache: cacheSection,
};

let doc = readFileSync(values.doc, 'utf8');
for (const [name, render] of Object.entries(sections)) {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (start < 0 || end < start) throw new Error(`${values.doc}: markers ${open} ... ${close} are missing`);
  doc = `${doc.slice(0, start + open.length)}\n${render()}\n${doc.slice(end)}`;
}
writeFileSync(values.doc, doc);
console.log(`wrote ${values.doc.replace(REPO_ROOT + '/', '')} from ${all.length} result files`);
