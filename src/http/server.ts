/**
 * The only listener. startServer() listens first (so /healthz answers during a long model
 * load), then loads the bundles, starts and warms up the worker pool, and flips /readyz.
 * On SIGTERM/SIGINT: /readyz turns 503, no new connections, in-flight and queued work
 * finishes, workers release their sessions, the process exits (or after the grace period).
 */
import { pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { type ImagePreprocessor, createImagePreprocessor } from '../images/index.js';
import { GLIBC_MALLOC_TUNABLES, allocatorStatus } from '../images/allocator.js';
import { chooseMaxBatch, chooseWorkerLayout } from '../inference/layout.js';
import { StartupError, WorkerPool } from '../inference/pool.js';
import type { WorkerModelSpec } from '../inference/protocol.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { BundleError, type ModelRegistry, loadRegistry } from '../models/registry.js';
import { Scheduler } from '../scheduling/scheduler.js';
import { type App, buildApp } from './app.js';
import type { RemoteImageFetcher } from './remote-images/fetch-image.js';
import { ServiceState } from './state.js';

export interface RunningServer {
  readonly app: App;
  readonly url: string;
  readonly state: ServiceState;
  readonly scheduler: Scheduler;
  readonly pool: WorkerPool;
  readonly metrics: Metrics;
  readonly images: ImagePreprocessor;
  /** Graceful stop: refuse new requests, finish in-flight work, stop the workers. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Lets tests make a worker crash on purpose (WorkerPool.crashOne). */
  readonly testHooks?: boolean;
  /** Replaces the image URL fetcher made from the configuration (tests fetch from a local http server). */
  readonly remoteImages?: RemoteImageFetcher;
}

/**
 * Total size of the graphs of every served model, external weight files included (the
 * automatic worker layout's input). The registry has already checked every file's size
 * against its manifest entry, so the manifest's sizes are the files' sizes.
 */
function graphBytes(registry: ModelRegistry): number {
  let total = 0;
  for (const { manifest } of registry.list()) {
    for (const graph of Object.values(manifest.graphs)) {
      if (graph === undefined) continue;
      for (const file of [graph.file, ...(graph.external_data ?? [])]) total += manifest.files[file]?.size ?? 0;
    }
  }
  return total;
}

function workerSpecs(registry: ModelRegistry): WorkerModelSpec[] {
  return registry.list().map((m) => ({
    id: m.id,
    graphPaths: m.graphPaths,
    imageSize: m.imageSize,
    numTokens: m.numTokens,
    textContextLength: m.manifest.text?.context_length,
    mean: m.manifest.preprocessing.mean,
    std: m.manifest.preprocessing.std,
  }));
}

/** What the deployment exposes, without the keys themselves; a warning when anyone can call it. */
function logAccessControl(config: Config, log: Logger): void {
  const s = config.security;
  log.info(
    {
      apiKeys: s.apiKeys.length,
      cors: s.corsOrigins ?? 'off',
      rateLimit: s.rateLimit ?? 'off',
      trustProxy: s.trustProxy,
      imageUrls: s.remoteImages?.allowedHosts ?? 'off',
    },
    'access control',
  );
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.host);
  if (s.apiKeys.length === 0 && !loopback) log.warn(`no TOKLIP_API_KEYS: every route is open to anyone who can reach ${config.host}:${config.port}`);
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: config.logLevel });
  const log = logger.child({ component: 'server' });
  const metrics = createMetrics();
  const state = new ServiceState();
  const images = createImagePreprocessor({
    threads: config.imageThreads,
    nice: config.workerNice,
    limits: { maxInputPixels: config.maxImagePixels, maxInputBytes: config.bodyLimitBytes },
  });
  const allocator = allocatorStatus();
  if (allocator.glibc !== undefined && !allocator.tuned) {
    log.warn(
      { glibc: allocator.glibc },
      `GLIBC_TUNABLES lacks ${GLIBC_MALLOC_TUNABLES}: decoded images land on fresh pages (slower decodes); npm start and the Docker image set it (src/images/allocator.ts)`,
    );
  }
  const app = await buildApp(config, { state, metrics, images, logger, ...(options.remoteImages ? { remoteImages: options.remoteImages } : {}) });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`;

  let pool: WorkerPool;
  let scheduler: Scheduler;
  let maxBatch: number;
  try {
    const registry = await loadRegistry(config.modelsDir, {
      verifyChecksums: config.verifyChecksums,
      defaultModel: config.defaultModel,
      log,
    });
    const bytes = graphBytes(registry);
    const layout = chooseWorkerLayout(config.workers, config.intraOpThreads, config.cpuCount, bytes);
    pool = await WorkerPool.start({
      size: layout.workers,
      init: {
        models: workerSpecs(registry),
        device: config.device,
        intraOpThreads: layout.intraOpThreads,
        intraOpSpinning: config.intraOpSpinning,
        nice: config.workerNice,
        testHooks: options.testHooks ?? false,
      },
      log: logger,
      onRestart: () => metrics.workerRestarts.inc(),
    });
    maxBatch = chooseMaxBatch(config.maxBatch, pool.provider, bytes);
    scheduler = new Scheduler({ ...config, maxBatch }, registry, pool, { log: logger, metrics });
    logAccessControl(config, log);
    state.setScheduler(scheduler);
    log.info(
      { url, models: registry.ids(), provider: pool.provider, workers: layout.workers, intraOpThreads: layout.intraOpThreads, layout: layout.reason, maxBatch },
      `ready: ${registry.ids().length} model(s) on ${pool.provider}`,
    );
  } catch (error) {
    await app.close();
    await images.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      state.beginShutdown();
      scheduler.beginDrain();
      await app.close(); // resolves once every in-flight HTTP request has its response
      await scheduler.close();
      await images.close();
    })();
    return closing;
  };
  return { app, url, state, scheduler, pool, metrics, images, close };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`toklip-serve: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel });
  // A rejection nobody handled or an exception nobody caught is a bug: log it and stop (crash-only).
  const fatal = (kind: string) => (error: unknown) => {
    logger.fatal({ err: error }, `${kind}: exiting`);
    process.exit(70);
  };
  process.on('unhandledRejection', fatal('unhandled rejection'));
  process.on('uncaughtException', fatal('uncaught exception'));
  let server: RunningServer;
  try {
    server = await startServer(config, { logger });
  } catch (error) {
    if (error instanceof BundleError || error instanceof StartupError) {
      logger.fatal(error.message);
      process.exit(1);
    }
    throw error;
  }
  const shutdown = (signal: string) => {
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight work');
    const force = setTimeout(() => {
      logger.error('grace period over; exiting with work still in flight');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    server.close().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) void main();
