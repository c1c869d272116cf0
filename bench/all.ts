/**
 * `npm run bench`: every benchmark in one run, so that the ratios between them come from the
 * same conditions, then the report. Each step is its own script (and npm run bench:<step>).
 *
 *   npm run bench -- [--bundle DIR]... [--http-bundle DIR]... [--quick] [--skip torch,http,...]
 *   npm run bench -- --budget hour|half-hour [--dry-run]
 *
 * Bundles: the shipped model(s) under models/ and the full-size random-weight bundles under
 * models-local/ (tools/export --random-init; see docs/benchmarks.md). The HTTP load runs on the
 * shipped model(s) and the smallest full-size bundle unless --http-bundle names others; full-
 * size bundles get long windows (a batch takes tens of seconds there).
 * --quick: the tiny test fixture, short timings, results under bench/results/tmp (a check that
 * every script works; the numbers mean nothing).
 * --budget hour (about 40 minutes on 2 cores) or half-hour (about 22): every item of the
 * benchmark issue at least once, with fewer runs per point and the costliest points left out
 * (docs/benchmarks.md, "Budget", lists them); bundles: models-local/toklip-s-256-random, models-local/toklip-l-384-random
 * and the shipped model(s) under models/.
 * A whole run (no --skip, no --quick) first moves earlier result files to bench/results/tmp/.
 * Every run except --quick records its steps (command, start, seconds, exit status) in
 * bench/results/run.json, which the report shows.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, GiB, REPO_ROOT, machine } from './lib/common.js';
import { defaultBundleDirs, readBundle } from './lib/bundle.js';
import { withMallocTunables } from '../src/engine/allocator.js';

const STEPS = ['peak', 'ort', 'torch', 'preprocess', 'http', 'report'] as const;
type StepName = (typeof STEPS)[number];

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', multiple: true },
    'http-bundle': { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    budget: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
    threads: { type: 'string', default: '2' },
  },
});

interface Step {
  readonly name: StepName;
  readonly script: string;
  readonly args: readonly string[];
  /** Why this step is there (budget plans). */
  readonly note?: string;
}

const skip = new Set(values.skip.split(',').filter(Boolean));
for (const name of skip) if (!STEPS.includes(name as StepName)) throw new Error(`--skip: unknown step ${name} (one of ${STEPS.join(', ')})`);
const quick = values.quick;
const out = quick ? join(DEFAULT_OUT, 'tmp') : DEFAULT_OUT;
const threads = ['--threads', values.threads];
const outArgs = ['--out', out];
const isFullSize = (dir: string) => readBundle(dir).weightBytes > GiB;
const bundleArgs = (dirs: readonly string[]) => dirs.flatMap((b) => ['--bundle', b]);

/** The whole matrix (hours on 2 cores at full size), or every script on the tiny fixture (--quick). */
function fullPlan(): Step[] {
  const bundles = values.bundle ?? (quick ? [join(REPO_ROOT, 'test', 'fixtures', 'bundles', 'tiny-64')] : defaultBundleDirs());
  if (bundles.length === 0) throw new Error('no bundles: see docs/benchmarks.md (models/ and models-local/)');
  const smallestFull = bundles.filter(isFullSize).sort((a, b) => readBundle(a).weightBytes - readBundle(b).weightBytes || readBundle(a).numTokens - readBundle(b).numTokens)[0];
  const httpBundles = values['http-bundle'] ?? [...bundles.filter((d) => !isFullSize(d)), ...(smallestFull ? [smallestFull] : [])];
  const timing = quick ? ['--target-seconds', '0.3', '--max-iterations', '5'] : ['--target-seconds', '3', '--max-iterations', '20'];
  const steps: Step[] = [
    { name: 'peak', script: 'peak.ts', args: [...threads, ...outArgs, ...(quick ? ['--sizes', '512,1024', '--target-seconds', '0.5'] : [])] },
    { name: 'ort', script: 'ort.ts', args: [...bundleArgs(bundles), ...threads, ...timing, ...outArgs] },
    { name: 'torch', script: 'torch.ts', args: [...bundleArgs(bundles), ...threads, ...timing, ...outArgs] },
    { name: 'preprocess', script: 'preprocess.ts', args: [...outArgs, ...(quick ? ['--iterations', '3'] : [])] },
  ];
  // One result file per bundle class: full-size bundles need long windows.
  const light = httpBundles.filter((d) => !isFullSize(d));
  const heavy = httpBundles.filter(isFullSize);
  // The service picks its own workers x threads (its automatic layout), as deployed.
  const common = [...outArgs];
  if (light.length > 0) {
    steps.push({ name: 'http', script: 'http.ts', args: [...bundleArgs(light), ...common, ...(quick ? ['--duration', '3', '--warmup', '1'] : ['--duration', '20', '--warmup', '5'])] });
  }
  if (heavy.length > 0) {
    steps.push({ name: 'http', script: 'http.ts', args: [...bundleArgs(heavy), ...common, '--label', 'http-full', '--duration', '60', '--warmup', '0', '--min-requests', '32', '--max-seconds', '600'] });
  }
  return steps;
}

/** The knobs that size a budget plan. */
interface Budget {
  readonly peakRepeat: number;
  /** ORT: leave out points predicted over this many seconds. */
  readonly s256Cap: number;
  readonly l384Cap: number;
  /** HTTP on s-256: route@concurrency points left out. */
  readonly httpSkip: string;
  readonly torchS256: string;
  readonly torchL384: string;
}

/**
 * hour: about 40 minutes on 2 cores (2 threads); half-hour: about 22. Both cover every item
 * of the benchmark issue at least once. Full-size points get one untimed run per graph and
 * then single timed runs (two or three where a run is shorter than 4 s); the costliest points
 * are left out, each one named in the results (ORT: predicted over the per-point cap; HTTP:
 * --skip; PyTorch: fewer batch sizes).
 */
const BUDGETS: Record<string, Budget> = {
  hour: { peakRepeat: 2, s256Cap: 60, l384Cap: 45, httpSkip: 'decode@32,similarity@32', torchS256: '1,2,4,8', torchL384: '1,2' },
  'half-hour': { peakRepeat: 1, s256Cap: 30, l384Cap: 20, httpSkip: 'encode-tokens@32,decode@32,similarity@32', torchS256: '1,2,4', torchL384: '1' },
};

function budgetPlan(budget: Budget): Step[] {
  const s256 = join(REPO_ROOT, 'models-local', 'toklip-s-256-random');
  const l384 = join(REPO_ROOT, 'models-local', 'toklip-l-384-random');
  for (const dir of [s256, l384]) if (!existsSync(join(dir, 'manifest.json'))) throw new Error(`${dir}: missing (export it: docs/benchmarks.md, "How to run")`);
  const shipped = defaultBundleDirs().filter((d) => d.startsWith(join(REPO_ROOT, 'models') + '/'));
  const brief = ['--warmup', 'graph', '--target-seconds', '4', '--max-iterations', '3'];
  const torchTiming = ['--target-seconds', '4', '--max-iterations', '3'];
  const steps: Step[] = [
    { name: 'peak', script: 'peak.ts', args: [...threads, '--repeat', String(budget.peakRepeat), '--target-seconds', '1', ...outArgs], note: `GEMM peak, both runtimes, ${budget.peakRepeat} sweep(s)` },
    { name: 'preprocess', script: 'preprocess.ts', args: ['--iterations', '10', ...outArgs], note: 'preprocessing' },
    { name: 'ort', script: 'ort.ts', args: ['--bundle', s256, ...threads, ...brief, '--max-point-seconds', String(budget.s256Cap), ...outArgs], note: `s-256, every graph, batch 1-16 (points predicted over ${budget.s256Cap} s left out)` },
    {
      name: 'http',
      script: 'http.ts',
      args: ['--bundle', s256, '--label', 'http-full', '--concurrency', '1,8,32', '--skip', budget.httpSkip, '--warmup', '0', '--duration', '0', '--min-requests', '16', '--max-seconds', '900', ...outArgs],
      note: `s-256 service, every route at 1, 8, 32 except ${budget.httpSkip}`,
    },
    { name: 'ort', script: 'ort.ts', args: ['--bundle', l384, ...threads, ...brief, '--max-point-seconds', String(budget.l384Cap), ...outArgs], note: `l-384, every graph, batch 1-16 (points predicted over ${budget.l384Cap} s left out)` },
    { name: 'torch', script: 'torch.ts', args: ['--bundle', s256, ...threads, '--batches', budget.torchS256, ...torchTiming, ...outArgs], note: `PyTorch s-256, batch ${budget.torchS256}` },
  ];
  if (shipped.length > 0) {
    steps.push(
      { name: 'ort', script: 'ort.ts', args: [...bundleArgs(shipped), ...threads, '--target-seconds', '1', '--max-iterations', '20', ...outArgs], note: 'shipped model, every batch size' },
      { name: 'torch', script: 'torch.ts', args: [...bundleArgs(shipped), ...threads, '--target-seconds', '1', '--max-iterations', '20', ...outArgs], note: 'PyTorch, shipped model' },
      { name: 'http', script: 'http.ts', args: [...bundleArgs(shipped), '--warmup', '2', '--duration', '8', ...outArgs], note: 'shipped model service: every route at 1, 8, 32' },
    );
  }
  // Last: the step to cut first when time runs out.
  steps.push({ name: 'torch', script: 'torch.ts', args: ['--bundle', l384, ...threads, '--batches', budget.torchL384, ...torchTiming, ...outArgs], note: `PyTorch l-384, batch ${budget.torchL384}` });
  return steps;
}

let plan: Step[];
if (values.budget === undefined) plan = fullPlan();
else if (BUDGETS[values.budget] && !quick && values.bundle === undefined) plan = budgetPlan(BUDGETS[values.budget]!);
else throw new Error(`--budget: one of ${Object.keys(BUDGETS).join(', ')}, without --quick or --bundle`);
plan = plan.filter((s) => !skip.has(s.name));
if (!skip.has('report')) {
  if (quick) {
    mkdirSync(out, { recursive: true });
    copyFileSync(join(REPO_ROOT, 'docs', 'benchmarks.md'), join(out, 'benchmarks.md'));
    plan.push({ name: 'report', script: 'report.ts', args: ['--results', out, '--doc', join(out, 'benchmarks.md')] });
  } else {
    plan.push({ name: 'report', script: 'report.ts', args: [] });
  }
}

// A whole run starts from an empty results folder (ort.json and torch.json merge bundles of
// earlier runs; an HTTP file of an earlier run would be reported too): earlier results move to
// bench/results/tmp/previous-<time>/. A partial run (--skip) adds to them instead.
function archiveEarlierResults(): void {
  if (quick || skip.size > 0 || !existsSync(out)) return;
  const files = readdirSync(out).filter((f) => f.endsWith('.json'));
  if (files.length === 0) return;
  const dir = join(out, 'tmp', `previous-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  for (const f of files) renameSync(join(out, f), join(dir, f));
  console.log(`bench: moved ${files.length} earlier result files to ${dir.replace(REPO_ROOT + '/', '')}`);
}

const display = (step: Step) => `node --import tsx bench/${step.script} ${step.args.map((a) => a.replace(REPO_ROOT + '/', '')).join(' ')}`.trim();
if (values['dry-run']) {
  for (const step of plan) console.log(`${display(step)}${step.note ? `    # ${step.note}` : ''}`);
  process.exit(0);
}

interface StepRecord {
  readonly command: string;
  readonly note?: string;
  readonly started: string;
  readonly seconds: number;
  readonly status: number | null;
}
interface RunRecord {
  command: string;
  budget: string | null;
  machine: ReturnType<typeof machine>;
  started: string;
  steps: StepRecord[];
  /** Partial runs (--skip) that re-ran steps of this one afterwards. */
  reruns?: string[];
}
const thisCommand = ['npm run bench --', ...process.argv.slice(2)].join(' ');
// A partial run (--skip) adds its steps to the record of the run it completes.
const earlierRecord = (() => {
  if (skip.size === 0) return undefined;
  try {
    return JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
})();
const record: RunRecord = earlierRecord
  ? { ...earlierRecord, reruns: [...(earlierRecord.reruns ?? []), thisCommand] }
  : { command: thisCommand, budget: values.budget ?? null, machine: machine(), started: new Date().toISOString(), steps: [] };
const saveRecord = () => {
  if (quick) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'run.json'), JSON.stringify(record, null, 1) + '\n');
};
archiveEarlierResults();
const t0 = performance.now();
for (const step of plan) {
  console.log(`\n=== [${((performance.now() - t0) / 60000).toFixed(1)} min] ${display(step)}`);
  const started = new Date().toISOString();
  const begin = performance.now();
  // The report step reads run.json: record the run so far before it starts.
  if (step.name === 'report') saveRecord();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', step.script), ...step.args], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
    env: withMallocTunables(process.env),
  });
  if (step.name !== 'report') {
    // A re-run replaces the step's earlier row (its result file was replaced too).
    record.steps = [...record.steps.filter((x) => x.command !== display(step)), { command: display(step), ...(step.note ? { note: step.note } : {}), started, seconds: Math.round((performance.now() - begin) / 100) / 10, status: r.status }];
    saveRecord();
  }
  if (r.status !== 0) throw new Error(`${step.script} failed (exit ${r.status})`);
}
console.log(`\nbench: done in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
