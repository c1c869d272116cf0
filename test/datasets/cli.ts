/**
 * Runs the `toklip` command for tests: in this process through main() (fast: no new process
 * per run), or as a child process through the bin launcher (signals, exit codes, SIGKILL).
 * Either way with the fixture bundle tiny-64 on the CPU and the limits of fixtures.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { FIXTURE_BUNDLES_DIR } from '../helpers/golden.js';
import { LIMITS } from './fixtures.js';

export const BIN = fileURLToPath(new URL('../../bin/toklip.mjs', import.meta.url));

/** The engine settings of every run: small, single-threaded, the fixture bundle. */
export const TEST_ENV: Readonly<Record<string, string>> = {
  TOKLIP_MODELS_DIR: FIXTURE_BUNDLES_DIR,
  TOKLIP_DEVICE: 'cpu',
  TOKLIP_WORKERS: '1',
  TOKLIP_INTRA_OP_THREADS: '1',
  TOKLIP_IMAGE_THREADS: '1',
  TOKLIP_MAX_IMAGE_PIXELS: String(LIMITS.maxImagePixels),
  TOKLIP_BODY_LIMIT_MB: String(LIMITS.bodyLimitMb),
  TOKLIP_LOG_LEVEL: 'error',
};

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

class Capture {
  text = '';
  readonly isTTY = false;
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/** main() in this process; `signal` stands for SIGINT / SIGTERM. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}, signal = new AbortController().signal): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, { stdout, stderr, env: { ...TEST_ENV, ...env }, signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

/** The bin launcher as a child process (PATH only, plus the test settings). */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}, as: RunAs = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', ...TEST_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
}

export async function runChild(args: readonly string[], env: Record<string, string> = {}, as: RunAs = {}): Promise<CliRun & { signal: NodeJS.Signals | null }> {
  const child = spawnCli(args, env, as);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  return { code: code ?? -1, signal, stdout, stderr };
}
