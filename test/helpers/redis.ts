/**
 * A real Redis for the result-cache tests: Debian's redis-server (installed by
 * scripts/ensure-redis.sh, which .ci/run calls; run here too when it is missing, as the browser
 * tests run ensure-browser.sh) on a free port, without persistence, in a process the test owns:
 * it can be paused (SIGSTOP), resumed and killed mid-run. A server still missing after the
 * script is a failure that names the fix, never a skipped test.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

export const REDIS_SERVER = '/usr/bin/redis-server';
const ENSURE_REDIS = fileURLToPath(new URL('../../scripts/ensure-redis.sh', import.meta.url));

async function runnable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function ensureRedis(): Promise<void> {
  if (await runnable(REDIS_SERVER)) return;
  let why = '';
  try {
    await promisify(execFile)('bash', [ENSURE_REDIS], { timeout: 600_000 });
  } catch (error) {
    why = `: ${String((error as { stderr?: string }).stderr ?? error).trim()}`;
  }
  if (!(await runnable(REDIS_SERVER))) {
    throw new Error(`${REDIS_SERVER} is missing and scripts/ensure-redis.sh did not install it${why}. Install Debian's redis-server (as root: bash scripts/ensure-redis.sh)`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export class RedisServer {
  private constructor(
    readonly process: ChildProcess,
    readonly port: number,
    private readonly dir: string,
    readonly exited: Promise<void>,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server on a free port (extra `--name value` arguments allowed) and waits until it accepts connections. */
  static async start(args: readonly string[] = []): Promise<RedisServer> {
    await ensureRedis();
    const dir = await mkdtemp(join(tmpdir(), 'toklip-redis-'));
    for (let attempt = 0; ; attempt++) {
      const port = await freePort();
      const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      let output = '';
      const ready = await new Promise<boolean>((resolve) => {
        const onData = (data: Buffer) => {
          output += data.toString();
          if (output.includes('Ready to accept connections')) resolve(true);
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        void exited.then(() => resolve(false));
      });
      child.stdout!.resume();
      child.stderr!.resume();
      if (ready) return new RedisServer(child, port, dir, exited);
      // Another process took the port between our probe and the server's bind: try another.
      if (attempt >= 4 || !output.includes('Address already in use')) throw new Error(`redis-server did not start:\n${output}`);
    }
  }

  /** A client of its own, for a test to look inside. */
  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1 });
  }

  pause(): void {
    this.process.kill('SIGSTOP');
  }

  resume(): void {
    this.process.kill('SIGCONT');
  }

  /** SIGKILL: the server is gone at once, as in a crash. */
  async kill(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGCONT');
    this.process.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
