/**
 * The service as a child process for the HTTP benchmark: started from the sources (tsx) on
 * loopback with a models folder holding only the bundle under test, configured through its
 * TOKLIP_* variables; plus a reader for the Prometheus metrics it exposes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './common.js';
import { withMallocTunables } from '../../src/engine/allocator.js';
import { EVENT_LOOP_SAMPLING_MS } from '../../src/metrics.js';

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ServerSettings {
  /** 0: the service's automatic layout (the one it chose is in RunningService.layout). */
  readonly workers: number;
  /** 0: CPU cores / workers. */
  readonly intraOpThreads: number;
  /** TOKLIP_INTRA_OP_SPINNING (the service's default, false, when absent). */
  readonly intraOpSpinning?: boolean;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  /** Other TOKLIP_* variables (e.g. { TOKLIP_DEVICE: 'cuda' }). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunningService {
  readonly url: string;
  readonly pid: number;
  readonly startSeconds: number;
  /** Workers x intra-op threads and max batch the service runs with (from its ready log line). */
  readonly layout: { readonly workers: number; readonly intraOpThreads: number; readonly maxBatch: number };
  /** Resident set of the server process (all workers), bytes. */
  rss(): number;
  /** CPU time the server process used so far (every thread, user + system), ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function startService(bundleDir: string, settings: ServerSettings): Promise<RunningService> {
  // A models folder with this bundle only: a real folder of links to its files (the registry
  // lists real sub-folders; files are opened through the links).
  const models = mkdtempSync(join(tmpdir(), 'toklip-bench-models-'));
  const linked = join(models, basename(bundleDir));
  mkdirSync(linked);
  for (const name of readdirSync(bundleDir)) symlinkSync(join(bundleDir, name), join(linked, name));
  // The launch environment of npm start and the Docker image (GLIBC_TUNABLES).
  const env = {
    ...withMallocTunables(Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOKLIP_')))),
    TOKLIP_HOST: '127.0.0.1',
    TOKLIP_PORT: '0',
    TOKLIP_MODELS_DIR: models,
    TOKLIP_DEVICE: 'cpu',
    TOKLIP_WORKERS: String(settings.workers),
    TOKLIP_INTRA_OP_THREADS: String(settings.intraOpThreads),
    ...(settings.intraOpSpinning !== undefined ? { TOKLIP_INTRA_OP_SPINNING: String(settings.intraOpSpinning) } : {}),
    TOKLIP_MAX_BATCH: String(settings.maxBatch),
    TOKLIP_MAX_DELAY_MS: String(settings.maxDelayMs),
    TOKLIP_QUEUE_LIMIT: '100000',
    TOKLIP_REQUEST_TIMEOUT_MS: '3600000',
    TOKLIP_VERIFY_CHECKSUMS: 'false',
    // The default level: Fastify logs every request at info, as in production.
    TOKLIP_LOG_LEVEL: 'info',
    // The load generators send the same few inputs again and again: with the result cache on
    // they would measure the cache. The cache benchmark (bench/cache.ts) turns it on itself.
    TOKLIP_CACHE_MB: '0',
    ...settings.env,
  };
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'http', 'server.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! });
  let layout = { workers: settings.workers, intraOpThreads: settings.intraOpThreads, maxBatch: settings.maxBatch };
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the service exited with code ${code} before it was ready`)));
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { level: number; msg: string; url?: string; workers?: number; intraOpThreads?: number; maxBatch?: number };
        if (entry.msg?.startsWith('ready:') && entry.url) {
          layout = { workers: entry.workers ?? layout.workers, intraOpThreads: entry.intraOpThreads ?? layout.intraOpThreads, maxBatch: entry.maxBatch ?? layout.maxBatch };
          resolve(entry.url);
        }
        else if (entry.level >= 40) console.log(`  server: ${entry.msg}`);
      } catch {
        console.log(`  server: ${line}`);
      }
    });
  });
  // From here on the request logs are only drained, not parsed.
  lines.removeAllListeners('line');
  lines.close();
  child.stdout!.resume();
  const startSeconds = (performance.now() - started) / 1000;
  const pid = child.pid!;
  return {
    url,
    pid,
    startSeconds,
    layout,
    rss: () => {
      try {
        const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
        return Number(/\d+/.exec(line ?? '0')![0]) * 1024;
      } catch {
        return 0;
      }
    },
    cpuMs: () => {
      // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks, after the ')' of the name.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(models, { recursive: true, force: true });
    },
  };
}

/** Prometheus text exposition -> { 'name{labels}': value }. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

export async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`);
  return parseMetrics(await response.text());
}

/**
 * The event loop's lag at a quantile (p50, p99, max, ...) in ms: prom-client's gauge, an
 * interval of a timer that ticks every EVENT_LOOP_SAMPLING_MS, minus that interval.
 */
export function eventLoopLagMs(metrics: Map<string, number>, quantile: string): number {
  return Math.max(0, 1000 * metricSum(metrics, `toklip_nodejs_eventloop_lag_${quantile}_seconds`) - EVENT_LOOP_SAMPLING_MS);
}

/** Sum of every series of a metric whose labels include all of `labels`. */
export function metricSum(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of metrics) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (Object.entries(labels).every(([k, v]) => key.includes(`${k}="${v}"`))) total += value;
  }
  return total;
}
