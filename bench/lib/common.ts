/**
 * Shared pieces of the benchmark scripts: machine facts, load snapshots, result files, tables,
 * timing statistics. Every script writes one JSON file under its --out folder (bench/results
 * by default) shaped as ResultFile, so that bench/report.ts can rebuild docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_OUT = join(REPO_ROOT, 'bench', 'results');
export const PYTHON = '/usr/bin/python3';
/** Debian's python3 with the tools' packages (toklip_export, toklip_train) importable: tools/python sets PYTHONPATH. */
export const TOOLS_PYTHON = join(REPO_ROOT, 'tools', 'python');

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly onnxruntime: string;
  readonly commit: string;
}

export interface LoadSnapshot {
  readonly at: string;
  /** 1, 5 and 15 minute load averages. */
  readonly loadavg: readonly number[];
  /** The busiest other processes (ps), to show what shared the CPU. */
  readonly top: readonly string[];
}

export interface ResultFile<T> {
  readonly benchmark: string;
  readonly command: string;
  readonly machine: Machine;
  readonly started: string;
  readonly finished: string;
  readonly loadBefore: LoadSnapshot;
  readonly loadAfter: LoadSnapshot;
  readonly settings: Record<string, unknown>;
  readonly results: T;
}

function cpuModel(): string {
  const line = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('model name'));
  return line?.split(':')[1]?.trim() ?? 'unknown';
}

function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')).version as string;
  } catch {
    return 'unknown';
  }
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    // The benchmark's own outputs (result files, the generated document) do not make the code dirty.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results', ':!docs/benchmarks.md'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

export function machine(): Machine {
  return {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    onnxruntime: packageVersion('onnxruntime-node'),
    commit: gitCommit(),
  };
}

export function loadSnapshot(): LoadSnapshot {
  let top: string[] = [];
  try {
    top = execFileSync('ps', ['-eo', 'pcpu,rss,comm', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() !== '' && !/\bps$/.test(l.trim()))
      .slice(0, 5)
      .map((l) => l.trim().replace(/\s+/g, ' '));
  } catch {
    // ps missing: the load average alone still says how busy the machine was
  }
  return { at: new Date().toISOString(), loadavg: loadavg().map((x) => Math.round(x * 100) / 100), top };
}

/** Collects what a result file needs around a benchmark body. */
export class Run<T> {
  private readonly started = new Date().toISOString();
  private readonly loadBefore = loadSnapshot();

  constructor(
    private readonly benchmark: string,
    private readonly settings: Record<string, unknown>,
  ) {
    console.log(`${benchmark}: load average ${this.loadBefore.loadavg.join(' ')} at start`);
  }

  finish(results: T, outDir: string, fileName = `${this.benchmark}.json`): string {
    const file: ResultFile<T> = {
      benchmark: this.benchmark,
      command: ['node', ...process.argv.slice(1).map((a) => a.replace(REPO_ROOT + '/', ''))].join(' '),
      machine: machine(),
      started: this.started,
      finished: new Date().toISOString(),
      loadBefore: this.loadBefore,
      loadAfter: loadSnapshot(),
      settings: this.settings,
      results,
    };
    mkdirSync(outDir, { recursive: true });
    const path = join(outDir, fileName);
    writeFileSync(path, JSON.stringify(file, null, 1) + '\n');
    console.log(`${this.benchmark}: load average ${file.loadAfter.loadavg.join(' ')} at end; wrote ${path.replace(REPO_ROOT + '/', '')}`);
    return path;
  }
}

/** When and under what load one bundle was measured (result files may merge several runs). */
export interface Measured {
  readonly loadBefore: LoadSnapshot;
  readonly loadAfter: LoadSnapshot;
}

/**
 * Results of the bundles measured now, plus those of an earlier run of the same benchmark
 * that this run did not measure (so that a bundle added later, e.g. the shipped model, joins
 * the file without re-measuring the others).
 */
export function mergeByBundle<T extends { readonly bundle: string }>(now: readonly T[], earlier: readonly T[] | undefined): T[] {
  const measured = new Set(now.map((b) => b.bundle));
  return [...(earlier ?? []).filter((b) => !measured.has(b.bundle)), ...now];
}

export function readResult<T>(path: string): ResultFile<T> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ResultFile<T>;
  } catch {
    return undefined;
  }
}

/** Fixed-width text table: numbers right-aligned, text left-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === 'number' || r[i] === '-'));
  const line = (r: readonly string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Numbers with 3 significant digits (integers above 1000 in full). */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1000) return Math.round(x).toString();
  if (x === 0) return '0';
  return x.toPrecision(3).replace(/\.?0+$/, (m) => (m.includes('.') ? '' : m));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Comma-separated integers (`--batches 1,2,4`). */
export function intList(text: string): number[] {
  return text.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${s}`);
    return n;
  });
}

/** Resident set size and its peak, from /proc/self/status (bytes). */
export function memory(): { rss: number; peakRss: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(/\d+/.exec(status.split('\n').find((l) => l.startsWith(key)) ?? '0')![0]) * 1024;
  return { rss: kb('VmRSS:'), peakRss: kb('VmHWM:') };
}

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;
