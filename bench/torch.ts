/**
 * (2) PyTorch eager on the exporter's modules, same inputs and thread count as bench/ort.ts,
 * Debian's torch with OpenBLAS (pthread). Records torch's version, build configuration and the
 * BLAS libraries the process mapped. Prints the ONNX Runtime / PyTorch throughput ratio when
 * bench/results/ort.json holds the same bundle.
 *
 *   npm run bench:torch -- [--bundle DIR]... [--batches 1,2,4,8,16] [--threads 2]
 *                          [--target-seconds 3] [--max-iterations 20] [--out bench/results]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, type Measured, REPO_ROOT, TOOLS_PYTHON, Run, formatTable, intList, loadSnapshot, mergeByBundle, readResult } from './lib/common.js';
import { defaultBundleDirs, readBundle } from './lib/bundle.js';
import type { Measurement } from './lib/ort-job.js';
import { type OrtResults, ortRunAt } from './ort.js';

export interface TorchBundleResult {
  readonly bundle: string;
  readonly weights: string;
  readonly buildSeconds: number;
  readonly torch: {
    readonly version: string;
    readonly threads: number;
    readonly openblas_num_threads: string | null;
    readonly blas: readonly string[];
    readonly config: string;
    readonly parallel: string;
  };
  /** firstMs: the warm-up run, made once per graph at its first batch size (null elsewhere). */
  readonly runs: readonly (Omit<Measurement, 'firstMs'> & { readonly firstMs: number | null })[];
  readonly measured?: Measured;
  /** How this bundle was timed (a merged torch.json may hold bundles of runs with other settings). */
  readonly timing?: { readonly batches: readonly number[]; readonly targetSeconds: number; readonly maxIterations: number };
}

export interface TorchResults {
  readonly threads: number;
  readonly bundles: readonly TorchBundleResult[];
}

function runPython(args: readonly string[], threads: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(TOOLS_PYTHON, [join(REPO_ROOT, 'bench', 'python', 'torch_bench.py'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      out += text;
      for (const line of text.split('\n')) if (line.startsWith('  ')) console.log(line);
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop()!) : reject(new Error(`torch_bench.py exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: 'string', multiple: true },
      graphs: { type: 'string' },
      batches: { type: 'string', default: '1,2,4,8,16' },
      threads: { type: 'string', default: '2' },
      'target-seconds': { type: 'string', default: '3' },
      'max-iterations': { type: 'string', default: '20' },
      'no-merge': { type: 'boolean', default: false },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const dirs = values.bundle ?? defaultBundleDirs();
  const settings = {
    batches: intList(values.batches),
    threads: Number(values.threads),
    targetSeconds: Number(values['target-seconds']),
    maxIterations: Number(values['max-iterations']),
    bundles: dirs,
  };
  const run = new Run<TorchResults>('torch', settings);
  const results: TorchBundleResult[] = [];
  for (const dir of dirs) {
    const bundle = readBundle(dir);
    console.log(`${bundle.id}: PyTorch eager`);
    const args = ['graphs', '--bundle', bundle.dir, '--threads', String(settings.threads), '--batches', settings.batches.join(','), '--target-seconds', String(settings.targetSeconds), '--max-iterations', String(settings.maxIterations)];
    if (values.graphs) args.push('--graphs', values.graphs);
    const loadBefore = loadSnapshot();
    const result = JSON.parse(await runPython(args, settings.threads)) as TorchBundleResult;
    results.push({
      ...result,
      measured: { loadBefore, loadAfter: loadSnapshot() },
      timing: { batches: settings.batches, targetSeconds: settings.targetSeconds, maxIterations: settings.maxIterations },
    });
  }

  const ort = readResult<OrtResults>(join(values.out, 'ort.json'))?.results;
  const first = results[0]?.torch;
  if (first) console.log(`\nPyTorch ${first.version}, ${first.threads} threads, BLAS: ${first.blas.filter((l) => /blas|lapack/.test(l)).join(', ')}`);
  console.log(
    formatTable(
      ['bundle', 'graph', 'batch', 'torch ms/batch', 'torch items/s', 'ORT items/s', 'ORT / torch', 'torch CPU ms/item', 'ORT CPU ms/item', 'ORT / torch (CPU)'],
      results.flatMap((b) =>
        b.runs.map((r) => {
          const o = ortRunAt(ort, b.bundle, r.graph, r.batch);
          return [
            b.bundle,
            r.graph,
            r.batch,
            r.medianMs,
            r.itemsPerSecond,
            o ? o.itemsPerSecond : '-',
            o ? o.itemsPerSecond / r.itemsPerSecond : '-',
            r.cpuMsPerItem,
            o ? o.cpuMsPerItem : '-',
            o ? r.cpuMsPerItem / o.cpuMsPerItem : '-',
          ];
        }),
      ),
    ),
  );
  const earlier = values['no-merge'] ? undefined : readResult<TorchResults>(join(values.out, 'torch.json'))?.results;
  const merged = earlier && earlier.threads === settings.threads ? mergeByBundle(results, earlier.bundles) : results;
  run.finish({ threads: settings.threads, bundles: merged }, values.out);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
