/**
 * The real server as a child process (`node --import tsx src/http/server.ts`), for tests of
 * process-level behaviour: signals, exit codes, the grace period. Its pino log lines (JSON on
 * stdout) are collected; tests await log records instead of sleeping.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FIXTURE_BUNDLES_DIR } from './golden.js';
import { TEST_DEVICE } from './server.js';

const SERVER_ENTRY = fileURLToPath(new URL('../../src/http/server.ts', import.meta.url));

export type LogRecord = Record<string, unknown> & { msg?: string };

export class ChildServer {
  readonly process: ChildProcess;
  readonly records: LogRecord[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url = '';
  private waiters: { test: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  /** What the server wrote to stderr (pino logs go to stdout: native libraries' own lines land here). */
  stderr = '';

  private constructor(env: Record<string, string>) {
    this.process = spawn(process.execPath, ['--import', 'tsx', SERVER_ENTRY], {
      // Only what the server needs: no TOKLIP_* variable of the test environment leaks in.
      env: {
        PATH: process.env.PATH ?? '',
        TOKLIP_HOST: '127.0.0.1',
        TOKLIP_PORT: '0',
        TOKLIP_MODELS_DIR: FIXTURE_BUNDLES_DIR,
        TOKLIP_DEVICE: TEST_DEVICE,
        TOKLIP_INTRA_OP_THREADS: '1',
        TOKLIP_IMAGE_THREADS: '1',
        TOKLIP_LOG_LEVEL: 'info',
        // Tests on a busy machine: no load shedding unless a test asks.
        TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.process.once('exit', (code, signal) => resolve({ code, signal })));
    this.process.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        record = { msg: line };
      }
      this.records.push(record);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(record)) return true;
        w.resolve(record);
        return false;
      });
    });
  }

  /** Starts the server without waiting for anything (for tests of start-up failures). */
  static launch(env: Record<string, string> = {}): ChildServer {
    return new ChildServer(env);
  }

  /** Starts the server and resolves once it logged that it is ready (every model loaded and warmed up). */
  static async start(env: Record<string, string> = {}): Promise<ChildServer> {
    const child = new ChildServer(env);
    const ready = await Promise.race([
      child.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('ready:')),
      child.exited.then(({ code }) => {
        throw new Error(`the server exited with ${code} before it was ready: ${child.stderr}${JSON.stringify(child.records.slice(-5))}`);
      }),
    ]);
    child.url = String(ready.url);
    return child;
  }

  /** The first log record (past or future) that passes the test. */
  waitForLog(test: (r: LogRecord) => boolean): Promise<LogRecord> {
    const seen = this.records.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  /** Makes sure the process is gone (for `after` hooks). */
  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
    await this.exited;
  }
}
