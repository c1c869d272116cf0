/**
 * `npm start` as a newcomer runs it, from the repository root, as a child process that leads
 * its own process group (so that whatever npm starts can be found, and killed, afterwards).
 * Its output is collected line by line: pino's JSON records are parsed, other lines (npm's
 * banner, tsc) kept as text for failure messages. Tests await records, never sleep.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type LogRecord = Record<string, unknown> & { msg?: string };

/** The environment of a newcomer's shell: no TOKLIP_* setting, no npm_* variable of an outer npm run. */
function newcomerEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name]!;
  return { ...env, ...extra };
}

export class NpmStart {
  readonly process: ChildProcess;
  readonly records: LogRecord[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url = '';
  private waiters: { test: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  private constructor(env: Record<string, string>) {
    this.process = spawn('npm', ['start'], { cwd: REPO_ROOT, env: newcomerEnv(env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.process.once('exit', (code, signal) => resolve({ code, signal })));
    this.process.stderr!.on('data', (d: Buffer) => this.output.push(d.toString()));
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        this.output.push(line);
        return;
      }
      this.records.push(record);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(record)) return true;
        w.resolve(record);
        return false;
      });
    });
  }

  /** The process id of npm, which is also its process group's id. */
  get pid(): number {
    return this.process.pid!;
  }

  /**
   * Runs `npm start` (which builds first) and resolves once the server logged `ready:` with
   * its URL; rejects if npm exits first or `timeoutMs` passes.
   */
  static async start(env: Record<string, string>, timeoutMs: number): Promise<NpmStart> {
    const npm = new NpmStart(env);
    const ready = await npm.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('ready:'), 'the ready: log line', timeoutMs);
    npm.url = String(ready.url);
    return npm;
  }

  /**
   * The first record (past or future) that passes the test. Rejects, with the last output,
   * when npm exits before it or after `timeoutMs`.
   */
  waitForLog(test: (r: LogRecord) => boolean, what: string, timeoutMs: number): Promise<LogRecord> {
    const seen = this.records.find(test);
    if (seen) return Promise.resolve(seen);
    let timer: NodeJS.Timeout | undefined;
    const found = new Promise<LogRecord>((resolve) => this.waiters.push({ test, resolve }));
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms of npm start; last output:\n${this.tail()}`)), timeoutMs);
      void this.exited.then(({ code, signal }) => reject(new Error(`npm exited (${code ?? signal}) before ${what}; last output:\n${this.tail()}`)));
    });
    return Promise.race([found, failed]).finally(() => clearTimeout(timer));
  }

  /** The last lines npm and the server printed. */
  tail(lines = 15): string {
    const records = this.records.slice(-lines).map((r) => JSON.stringify(r).slice(0, 300));
    return [...this.output.join('\n').split('\n').slice(-lines), ...records].join('\n');
  }

  /** Processes still in npm's process group (what npm started, even re-parented), as "pid command". */
  async groupMembers(): Promise<string[]> {
    const members: string[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // gone meanwhile
      }
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
      const [, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) !== this.pid) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      members.push(`${entry} ${cmdline.replaceAll('\0', ' ').trim()}`);
    }
    return members;
  }

  /** Kills whatever is left of npm's process group (for `after` hooks). */
  async stop(): Promise<void> {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // nothing left
    }
    await this.exited;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
