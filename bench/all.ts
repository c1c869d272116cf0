/**
 * `npm run bench`: every benchmark in one run, so that the ratios between them come from the
 * same conditions, then the report. Each step is its own script (and npm run bench:<step>).
 *
 *   npm run bench -- [--bundle DIR]... [--http-bundle DIR]... [--quick] [--skip torch,http,...]
 *
 * Bundles: the shipped model(s) under models/ and the full-size random-weight bundles under
 * models-local/ (tools/export --random-init; see docs/benchmarks.md). The HTTP load runs on the
 * shipped model(s) and the smallest full-size bundle unless --http-bundle names others; full-
 * size bundles get long windows (a batch takes tens of seconds there).
 * --quick: the tiny test fixture, short timings, results under bench/results/tmp (a check that
 * every script works; the numbers mean nothing).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, GiB, REPO_ROOT } from './lib/common.js';
import { defaultBundleDirs, readBundle } from './lib/bundle.js';

const STEPS = ['peak', 'ort', 'torch', 'preprocess', 'http', 'report'] as const;

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', multiple: true },
    'http-bundle': { type: 'string', multiple: true },
    quick: { type: 'boolean', default: false },
    skip: { type: 'string', default: '' },
    threads: { type: 'string', default: '2' },
  },
});
const skip = new Set(values.skip.split(',').filter(Boolean));
const quick = values.quick;
const out = quick ? join(DEFAULT_OUT, 'tmp') : DEFAULT_OUT;
const bundles = values.bundle ?? (quick ? [join(REPO_ROOT, 'test', 'fixtures', 'bundles', 'tiny-64')] : defaultBundleDirs());
if (bundles.length === 0) throw new Error('no bundles: see docs/benchmarks.md (models/ and models-local/)');
const isFullSize = (dir: string) => readBundle(dir).weightBytes > GiB;
const smallestFull = bundles.filter(isFullSize).sort((a, b) => readBundle(a).weightBytes - readBundle(b).weightBytes || readBundle(a).numTokens - readBundle(b).numTokens)[0];
const httpBundles = values['http-bundle'] ?? [...bundles.filter((d) => !isFullSize(d)), ...(smallestFull ? [smallestFull] : [])];

function step(script: string, args: readonly string[]): void {
  console.log(`\n=== ${script} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', script), ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status})`);
}

const bundleArgs = bundles.flatMap((b) => ['--bundle', b]);
const timing = quick ? ['--target-seconds', '0.3', '--max-iterations', '5'] : ['--target-seconds', '3', '--max-iterations', '20'];
const threads = ['--threads', values.threads];
const outArgs = ['--out', out];

for (const name of STEPS) {
  if (skip.has(name)) continue;
  switch (name) {
    case 'peak':
      step('peak.ts', [...threads, ...outArgs, ...(quick ? ['--sizes', '512,1024', '--target-seconds', '0.5'] : [])]);
      break;
    case 'ort':
      step('ort.ts', [...bundleArgs, ...threads, ...timing, ...outArgs]);
      break;
    case 'torch':
      step('torch.ts', [...bundleArgs, ...threads, ...timing, ...outArgs]);
      break;
    case 'preprocess':
      step('preprocess.ts', [...outArgs, ...(quick ? ['--iterations', '3'] : [])]);
      break;
    case 'http': {
      // One result file per bundle class: full-size bundles need long windows.
      const light = httpBundles.filter((d) => !isFullSize(d));
      const heavy = httpBundles.filter(isFullSize);
      const common = ['--intra-op-threads', values.threads, ...outArgs];
      if (light.length > 0) {
        step('http.ts', [...light.flatMap((b) => ['--bundle', b]), ...common, ...(quick ? ['--duration', '3', '--warmup', '1'] : ['--duration', '20', '--warmup', '5'])]);
      }
      if (heavy.length > 0) {
        step('http.ts', [...heavy.flatMap((b) => ['--bundle', b]), ...common, '--label', 'http-full', '--duration', '60', '--warmup', '0', '--min-requests', '32', '--max-seconds', '600']);
      }
      break;
    }
    case 'report':
      if (quick) {
        mkdirSync(out, { recursive: true });
        copyFileSync(join(REPO_ROOT, 'docs', 'benchmarks.md'), join(out, 'benchmarks.md'));
        step('report.ts', ['--results', out, '--doc', join(out, 'benchmarks.md')]);
      } else {
        step('report.ts', []);
      }
      break;
  }
}
