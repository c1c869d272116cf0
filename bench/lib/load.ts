/**
 * A closed-loop HTTP load generator (the role autocannon plays, with exact percentiles and
 * phases that suit requests lasting from a millisecond to a minute): `concurrency` clients
 * on keep-alive connections each send the next request as soon as the previous answer
 * arrived: the same body every time, or the body a workload gives for each request's number
 * (0, 1, 2, ... in the order they are sent, across clients).
 *
 * Phases: warm-up until `warmupSeconds` passed and every client got one answer (queues and
 * batches reach their steady state), then the measured window until `durationSeconds` passed
 * and `minRequests` answers arrived (capped by `maxSeconds`); answers that arrive in the
 * window count. `onWindow` runs at both window edges (metrics scrapes). Requests still in
 * flight at the end are aborted (the service drops their queued work).
 */
import { setMaxListeners } from 'node:events';
import { Agent, request } from 'node:http';

export interface LoadOptions {
  readonly url: string;
  readonly path: string;
  readonly body: Buffer | ((sequence: number) => Buffer);
  readonly headers: Record<string, string>;
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  readonly minRequests: number;
  readonly maxSeconds: number;
  /** A further condition for the window to end (e.g. enough work done in it), checked with the others; maxSeconds still caps it. */
  readonly windowDone?: () => boolean;
  readonly onWindow?: (edge: 'start' | 'end') => Promise<void>;
}

export interface LoadResult {
  readonly completed: number;
  readonly seconds: number;
  /**
   * Little's law for a closed loop: concurrency / mean latency. Unlike answers / window it
   * does not depend on where batch boundaries fall (answers arrive in bursts of a batch).
   */
  readonly requestsPerSecond: number;
  /** Answers counted / window length. */
  readonly windowRequestsPerSecond: number;
  /** Sorted latencies of the answers counted, milliseconds. */
  readonly latenciesMs: readonly number[];
  /** Non-2xx answers and transport errors in the window, by status (or error code). */
  readonly errors: Record<string, number>;
  readonly warmupSeconds: number;
}

function send(agent: Agent, options: LoadOptions, body: Buffer, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${options.url}${options.path}`,
      { method: 'POST', agent, headers: { ...options.headers, 'content-length': String(body.length) }, signal },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const abort = new AbortController();
  setMaxListeners(options.concurrency + 10, abort.signal); // one listener per request in flight
  const started = performance.now();
  let phase: 'warmup' | 'window' | 'done' = 'warmup';
  let windowStart = 0;
  let windowEnd = 0;
  let warmedClients = 0;
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let edgeWork: Promise<void> = Promise.resolve();
  let sequence = 0;
  const nextBody = typeof options.body === 'function' ? options.body : () => options.body as Buffer;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const elapsed = (from: number) => (performance.now() - from) / 1000;
  const advance = () => {
    if (phase === 'warmup' && warmedClients >= options.concurrency && elapsed(started) >= options.warmupSeconds) {
      phase = 'window';
      edgeWork = edgeWork.then(() => options.onWindow?.('start')).then(() => {
        windowStart = performance.now();
      });
    } else if (phase === 'window' && windowStart > 0) {
      const seconds = elapsed(windowStart);
      const done = seconds >= options.durationSeconds && latencies.length >= options.minRequests && (options.windowDone?.() ?? true);
      if (done || seconds >= options.maxSeconds) {
        phase = 'done';
        windowEnd = performance.now();
        edgeWork = edgeWork.then(() => options.onWindow?.('end')).then(finish);
      }
    }
  };
  // Checks the phase clock even while every request is slower than the window.
  const ticker = setInterval(advance, 100);

  const client = async () => {
    let warmed = false;
    while (phase !== 'done') {
      const t0 = performance.now();
      let status: string;
      try {
        status = String(await send(agent, options, nextBody(sequence++), abort.signal));
      } catch (error) {
        if (abort.signal.aborted) return;
        status = (error as NodeJS.ErrnoException).code ?? 'error';
      }
      const t1 = performance.now();
      if (!warmed) {
        warmed = true;
        warmedClients++;
      }
      if (phase === 'window' && windowStart > 0 && t1 >= windowStart) {
        if (status.startsWith('2')) latencies.push(t1 - t0);
        else errors[status] = (errors[status] ?? 0) + 1;
      }
      advance();
    }
  };
  const clients = Array.from({ length: options.concurrency }, client);
  await finished;
  clearInterval(ticker);
  abort.abort();
  await Promise.allSettled(clients);
  agent.destroy();
  const seconds = (windowEnd - windowStart) / 1000;
  const counted = latencies.length;
  const meanLatencySeconds = latencies.reduce((a, b) => a + b, 0) / counted / 1000;
  return {
    completed: counted,
    seconds,
    requestsPerSecond: counted > 0 ? options.concurrency / meanLatencySeconds : 0,
    windowRequestsPerSecond: counted / seconds,
    latenciesMs: latencies.sort((a, b) => a - b),
    errors,
    warmupSeconds: (windowStart - started) / 1000,
  };
}
