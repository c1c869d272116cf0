/**
 * A fixed pool of inference workers. Each worker runs one batch at a time and may hold the
 * next one queued behind it (pipelineDepth 2): when a batch ends, the worker starts the next at
 * once instead of idling until the main thread has collected the results, answered and sent
 * more work. The scheduler never sends more than size x pipelineDepth batches, so run()
 * normally finds a worker with room (a job waits here only while a crashed worker is being
 * replaced).
 *
 * Workers are never terminated while a batch runs (that would abort the process inside
 * ONNX Runtime): shutdown waits for running batches, then asks each worker to release its
 * sessions and exit. A worker that dies on its own fails its running batch with 503 and is
 * replaced.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ServiceError } from '../errors.js';
import type { ExecutionProviderName, FromWorker, RunRequest, RunResult, ToWorker, WorkerData, WorkerInit } from './protocol.js';

export interface PoolOptions {
  readonly size: number;
  readonly init: Omit<WorkerInit, 'workerIndex'>;
  readonly log: Logger;
  readonly onRestart?: () => void;
  /** Batches one worker holds at once: the running one plus those queued behind it (default 2). */
  readonly pipelineDepth?: number;
  /**
   * The worker script and data for it (WorkerData.entryData). Default: src/inference/worker.ts,
   * ONNX Runtime's own sessions. Another entry runs the same worker runtime with its own session
   * factory (the tests inject faults that way).
   */
  readonly entry?: { readonly url: URL; readonly data?: unknown };
}

interface Job {
  readonly id: number;
  readonly request: RunRequest;
  readonly resolve: (result: RunResult) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  ready: boolean;
  /** Sent to the worker, in order: jobs[0] runs, the others wait in the worker's queue. */
  jobs: Job[];
  stopping: boolean;
  exited: boolean;
}

/** Retry delays of a replacement worker that fails to start: 0.5 s doubling up to 30 s. */
const RESTART_BACKOFF_MS = { first: 500, max: 30_000 };

export class StartupError extends Error {
  override name = 'StartupError';
}

/** Where the production worker code is: the .ts source through a tsx bootstrap, or the compiled .js. */
function defaultWorkerEntry(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './worker-bootstrap.mjs' : './worker.js', import.meta.url);
}

export class WorkerPool {
  private readonly options: PoolOptions;
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextJobId = 1;
  private closing = false;
  private providerName: ExecutionProviderName = 'cpu';
  private healthy = true;

  private constructor(options: PoolOptions) {
    this.options = options;
  }

  /** Starts every worker and waits until each has created and warmed up its sessions. */
  static async start(options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    const started = await Promise.allSettled(Array.from({ length: options.size }, (_, i) => pool.spawn(i)));
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) {
      await pool.close();
      throw failure.reason;
    }
    return pool;
  }

  get size(): number {
    return this.options.size;
  }

  /** Batches sent to each worker and not answered yet (the running one and those queued behind it). */
  get heldJobs(): number[] {
    return this.slots.map((slot) => slot?.jobs.length ?? 0);
  }

  /** Batches the pool accepts beyond one per worker: each worker's queued next batches. */
  get stagingSlots(): number {
    return this.options.size * (this.depth - 1);
  }

  private get depth(): number {
    return Math.max(1, this.options.pipelineDepth ?? 2);
  }

  get provider(): ExecutionProviderName {
    return this.providerName;
  }

  /** False while a replacement worker fails to start (it is retried with backoff). */
  get isHealthy(): boolean {
    return this.healthy;
  }

  run(request: RunRequest): Promise<RunResult> {
    if (this.closing) return Promise.reject(new ServiceError('shutting_down', 'the inference pool is shutting down'));
    return new Promise<RunResult>((resolve, reject) => {
      this.waiting.push({ id: this.nextJobId++, request, resolve, reject });
      this.dispatch();
    });
  }

  /** Waits for running batches, then lets every worker release its sessions and exit. */
  async close(): Promise<void> {
    this.closing = true;
    for (const job of this.waiting.splice(0)) job.reject(new ServiceError('shutting_down', 'the inference pool is shutting down'));
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.stopping = true;
        if (slot.exited) return;
        const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
        if (slot.jobs.length === 0) slot.worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
        await exited;
      }),
    );
  }

  private spawn(index: number): Promise<void> {
    const { init, log } = this.options;
    const workerLog = log.child({ component: 'worker', worker: index });
    const entry = this.options.entry ?? { url: defaultWorkerEntry() };
    const data: WorkerData = { init: { ...init, workerIndex: index }, ...(entry.data !== undefined ? { entryData: entry.data } : {}) };
    const worker = new Worker(entry.url, { workerData: data });
    const slot: Slot = { index, worker, ready: false, jobs: [], stopping: false, exited: false };
    let started = false;
    this.slots[index] = slot;

    return new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'log':
            workerLog[message.level](message.data ?? {}, message.msg);
            break;
          case 'ready':
            slot.ready = true;
            started = true;
            this.providerName = message.provider;
            workerLog.info({ provider: message.provider, warmupMs: Math.round(message.warmupMs) }, 'inference worker ready');
            resolve();
            this.dispatch();
            break;
          case 'init_failed':
            slot.stopping = true;
            reject(new StartupError(message.message));
            break;
          case 'result':
          case 'run_failed':
            this.finish(slot, message);
            break;
        }
      });
      worker.on('error', (error) => workerLog.error({ err: error }, 'inference worker error'));
      worker.on('exit', (code) => {
        // The queued jobs die too: their input buffers were transferred to this worker.
        const [job, ...queued] = slot.jobs.splice(0);
        slot.ready = false;
        slot.exited = true;
        if (slot.stopping || this.closing) {
          for (const j of [job, ...queued]) j?.reject(new ServiceError('shutting_down', 'the inference worker stopped'));
          reject(new StartupError(`inference worker ${index} exited during start (code ${code})`));
          return;
        }
        if (!started) {
          // Died before it was ready: a failed start, not a crash to replace in a loop.
          reject(new StartupError(`inference worker ${index} exited during start (code ${code})`));
          return;
        }
        workerLog.error({ code, jobId: job?.id }, 'inference worker died; replacing it');
        job?.reject(new ServiceError('worker_crashed', 'the inference worker running this request crashed; retry', { retryAfterSeconds: 1 }));
        for (const j of queued) j.reject(new ServiceError('worker_crashed', 'the inference worker holding this request crashed; retry', { retryAfterSeconds: 1 }));
        this.options.onRestart?.();
        this.replace(index, 0);
      });
    });
  }

  /** Starts a replacement worker; while starts fail, the pool is unhealthy and retries with backoff. */
  private replace(index: number, attempt: number): void {
    const workerLog = this.options.log.child({ component: 'worker', worker: index });
    this.spawn(index).then(
      () => {
        this.healthy = this.slots.every((s) => s.ready || s.stopping);
      },
      (error: unknown) => {
        if (this.closing) return;
        this.healthy = false;
        const delayMs = Math.min(RESTART_BACKOFF_MS.max, RESTART_BACKOFF_MS.first * 2 ** attempt);
        workerLog.error({ err: error, retryInMs: delayMs }, 'replacement inference worker failed to start; retrying');
        setTimeout(() => {
          if (!this.closing) this.replace(index, attempt + 1);
        }, delayMs).unref();
      },
    );
  }

  private finish(slot: Slot, message: Extract<FromWorker, { type: 'result' | 'run_failed' }>): void {
    const job = slot.jobs[0];
    if (job === undefined || job.id !== message.jobId) return;
    slot.jobs.shift();
    if (message.type === 'result') job.resolve({ outputs: message.outputs, runMs: message.runMs });
    else job.reject(new ServiceError('inference_failed', message.message));
    if (this.closing) {
      if (slot.jobs.length > 0) return;
      slot.stopping = true;
      slot.worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
      return;
    }
    this.dispatch();
  }

  /** Hands waiting jobs to the ready workers holding the fewest, up to pipelineDepth each. */
  private dispatch(): void {
    while (this.waiting.length > 0) {
      let target: Slot | undefined;
      for (const slot of this.slots) {
        if (!slot || !slot.ready || slot.stopping || slot.jobs.length >= this.depth) continue;
        if (target === undefined || slot.jobs.length < target.jobs.length) target = slot;
      }
      if (target === undefined) return;
      const job = this.waiting.shift()!;
      target.jobs.push(job);
      const { input } = job.request;
      target.worker.postMessage({ type: 'run', jobId: job.id, ...job.request } satisfies ToWorker, [input.data.buffer as ArrayBuffer]);
    }
  }
}
