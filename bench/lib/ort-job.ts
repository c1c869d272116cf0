/**
 * One raw ONNX Runtime measurement job, run in a fresh child process (bench/ort-child.ts) so
 * that its memory figures belong to one bundle and one set of session options only. The
 * sessions get the service's own options (sessionOptions from src/inference), plus the
 * job's overrides when a tuning experiment asks for them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './common.js';

export type InputKind = 'pixels' | 'ids' | 'text';

export interface JobGraph {
  /** Graph name as reported (vq_encoder, ..., or a variant such as fused_image_encoder). */
  readonly name: string;
  readonly path: string;
  readonly input: InputKind;
  /** Outputs to fetch (default: all). */
  readonly outputs?: readonly string[];
}

export interface OrtJob {
  readonly bundleDir: string;
  readonly graphs: readonly JobGraph[];
  readonly batches: readonly number[];
  readonly threads: number;
  /** cpu (default) or cuda / cuda:N: the execution provider, configured as the service does. */
  readonly device?: string;
  /** Merged over the service's session options (tuning experiments). */
  readonly overrides?: Record<string, unknown>;
  /** Stop timing a point once this much time went into its timed runs... */
  readonly targetSeconds: number;
  /** ...or after this many timed runs. At least one timed run always follows the first. */
  readonly maxIterations: number;
  /** Skip a (graph, batch) point when the previous batch's run predicts more than this (seconds). */
  readonly maxPointSeconds?: number;
  /**
   * 'point' (default): an untimed first run at every batch size (allocation and planning for
   * that shape). 'graph': one untimed run per graph, at its first batch size only, so that a
   * full-size sweep costs half as much; the first timed run at a new batch size then includes
   * the arena's growth for that shape (a small share of a run that lasts seconds).
   */
  readonly warmup?: 'point' | 'graph';
}

export interface Measurement {
  readonly graph: string;
  readonly batch: number;
  /** Untimed first run at this batch size (allocation and planning included); null where none was made (warm-up per graph). */
  readonly firstMs: number | null;
  readonly iterations: number;
  readonly meanMs: number;
  readonly medianMs: number;
  readonly minMs: number;
  /** Images (or token rows, or texts) per second over the timed runs. */
  readonly itemsPerSecond: number;
  /**
   * Process CPU time (all threads, user + system) per item over the timed runs, ms. On a
   * shared machine wall time includes waiting for a core; CPU time is the work itself.
   */
  readonly cpuMsPerItem: number;
}

export interface SessionLoad {
  readonly graph: string;
  readonly createMs: number;
  readonly rssAfter: number;
}

export interface OrtJobResult {
  readonly bundle: string;
  readonly threads: number;
  readonly overrides: Record<string, unknown>;
  readonly memory: {
    /** Node alone, before any session. */
    readonly baselineRss: number;
    /** Every session created (weights loaded and pre-packed). */
    readonly loadedRss: number;
    /** Peak resident set over the whole job (VmHWM). */
    readonly peakRss: number;
    readonly sessions: readonly SessionLoad[];
  };
  readonly runs: readonly Measurement[];
  readonly skipped: readonly { graph: string; batch: number; predictedSeconds: number }[];
}

/** Runs a job in a child process (progress lines go to this process's stdout). */
export async function runOrtJob(job: OrtJob, extraNodeArgs: readonly string[] = []): Promise<OrtJobResult> {
  const dir = mkdtempSync(join(tmpdir(), 'toklip-bench-'));
  const jobPath = join(dir, 'job.json');
  const resultPath = join(dir, 'result.json');
  writeFileSync(jobPath, JSON.stringify(job));
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [...extraNodeArgs, '--import', 'tsx', join(REPO_ROOT, 'bench', 'ort-child.ts'), jobPath, resultPath], {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`ort-child exited with code ${code} for ${job.bundleDir}`);
    return JSON.parse(readFileSync(resultPath, 'utf8')) as OrtJobResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
