/**
 * Start-up of an engine from the configuration: the bundles (registry), the execution provider,
 * the worker layout and pool (sessions created and warmed up), the batch size, the scheduler,
 * the image preprocessing pool, the admission controller and the result cache. The HTTP server,
 * the dataset command and the benchmarks all start their engine here.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createImagePreprocessor } from '../images/index.js';
import { chooseDevice } from '../inference/device.js';
import { chooseWorkerLayout } from '../inference/layout.js';
import { servedGraphBytes, workerModelSpecs } from '../inference/model-spec.js';
import { WorkerPool, type PoolOptions } from '../inference/pool.js';
import type { Metrics } from '../metrics.js';
import { loadRegistry } from '../models/registry.js';
import { chooseMaxBatch } from '../scheduling/batch-policy.js';
import type { Clock } from '../scheduling/clock.js';
import { Scheduler } from '../scheduling/scheduler.js';
import type { Tracing } from '../tracing/index.js';
import { AdmissionController } from './admission.js';
import { GLIBC_MALLOC_TUNABLES, allocatorStatus } from './allocator.js';
import { createResultCache } from './cache/index.js';
import { Engine } from './engine.js';

/** The settings an engine reads (a Config has them all; front ends without HTTP may build just these). */
export type EngineConfig = Pick<
  Config,
  | 'modelsDir'
  | 'defaultModel'
  | 'verifyChecksums'
  | 'device'
  | 'workers'
  | 'intraOpThreads'
  | 'intraOpSpinning'
  | 'workerNice'
  | 'cpuCount'
  | 'maxBatch'
  | 'maxDelayMs'
  | 'queueLimit'
  | 'admissionWaitFraction'
  | 'maxEventLoopDelayMs'
  | 'imageThreads'
  | 'maxImagePixels'
  | 'bodyLimitBytes'
> &
  // The result cache: off when absent (a full Config has it: TOKLIP_CACHE_*).
  Partial<Pick<Config, 'cache'>>;

export interface EngineStartOptions {
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly clock?: Clock;
  /** Another inference worker script (the tests inject faults with one); default: the production worker. */
  readonly workerEntry?: PoolOptions['entry'];
  /** Spans of preprocessing, queue waits and batches (src/tracing); default: none. */
  readonly tracing?: Tracing;
}

/** What was chosen at start, for the start-up log line. */
export interface EngineLayout {
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly reason: string;
  readonly maxBatch: number;
}

export async function startEngine(config: EngineConfig, options: EngineStartOptions): Promise<{ engine: Engine; layout: EngineLayout }> {
  const log = options.log.child({ component: 'engine' });
  const allocator = allocatorStatus();
  if (allocator.glibc !== undefined && !allocator.tuned) {
    log.warn(
      { glibc: allocator.glibc },
      `GLIBC_TUNABLES lacks ${GLIBC_MALLOC_TUNABLES}: decoded images land on fresh pages (slower decodes); npm start and the Docker image set it (src/engine/allocator.ts)`,
    );
  }
  const registry = await loadRegistry(config.modelsDir, { verifyChecksums: config.verifyChecksums, defaultModel: config.defaultModel, log });
  const device = chooseDevice(config.device);
  if (device.provider === 'cpu' && config.device.kind === 'auto') log.info({ reason: device.reason }, 'CUDA is not available: using the CPU');
  const bytes = servedGraphBytes(registry);
  const layout = chooseWorkerLayout(config.workers, config.intraOpThreads, config.cpuCount, bytes);
  const images = createImagePreprocessor({
    threads: config.imageThreads,
    nice: config.workerNice,
    limits: { maxInputPixels: config.maxImagePixels, maxInputBytes: config.bodyLimitBytes },
  });
  let pool: WorkerPool;
  try {
    pool = await WorkerPool.start({
      size: layout.workers,
      init: { models: workerModelSpecs(registry), device, intraOpThreads: layout.intraOpThreads, intraOpSpinning: config.intraOpSpinning, nice: config.workerNice },
      log: options.log,
      ...(options.metrics ? { onRestart: () => options.metrics!.workerRestarts.inc() } : {}),
      ...(options.workerEntry ? { entry: options.workerEntry } : {}),
    });
  } catch (error) {
    await images.close();
    throw error;
  }
  const maxBatch = chooseMaxBatch(config.maxBatch, pool.provider, bytes);
  const scheduler = new Scheduler({ maxBatch, maxDelayMs: config.maxDelayMs, queueLimit: config.queueLimit }, registry, pool, {
    log: options.log,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.tracing ? { tracing: options.tracing } : {}),
  });
  const admission = new AdmissionController(
    { queueLimit: config.queueLimit, waitFraction: config.admissionWaitFraction, maxEventLoopDelayMs: config.maxEventLoopDelayMs },
    { stages: scheduler, images, clock: scheduler.clock, ...(options.metrics ? { metrics: options.metrics } : {}) },
  );
  const cache = createResultCache(config.cache ?? { memoryBytes: 0, redis: undefined }, {
    log: options.log,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.tracing ? { tracing: options.tracing } : {}),
  });
  const engine = new Engine({
    registry,
    scheduler,
    images,
    admission,
    cache,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.tracing ? { tracing: options.tracing } : {}),
  });
  return { engine, layout: { ...layout, maxBatch } };
}
