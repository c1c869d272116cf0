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
import { type Engine, type EngineStartOptions, startEngine } from '../engine/index.js';
import { DeviceError } from '../inference/device.js';
import { StartupError } from '../inference/pool.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { BundleError } from '../models/registry.js';
import { type TracingRuntime, startTracing } from '../tracing/index.js';
import { type App, buildApp } from './app.js';
import type { RemoteImageFetcher } from './remote-images/fetch-image.js';
import { ServiceState } from './state.js';

export interface RunningServer {
  readonly app: App;
  readonly url: string;
  readonly state: ServiceState;
  readonly engine: Engine;
  readonly metrics: Metrics;
  /** Graceful stop: refuse new requests, finish in-flight work, stop the workers. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Another inference worker script (the tests inject faults with one). */
  readonly workerEntry?: EngineStartOptions['workerEntry'];
  /** Replaces the image URL fetcher made from the configuration (tests fetch from a local http server). */
  readonly remoteImages?: RemoteImageFetcher;
  /** Tracing already started (its exporter chosen by the caller); default: started from config.tracing when on. The server shuts it down on close. */
  readonly tracing?: TracingRuntime;
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
  const tracing = options.tracing ?? (config.tracing.enabled ? startTracing(config.tracing) : undefined);
  const app = await buildApp(config, {
    state,
    metrics,
    logger,
    ...(options.remoteImages ? { remoteImages: options.remoteImages } : {}),
    ...(tracing ? { tracing } : {}),
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host}:${port}`;

  let engine: Engine;
  try {
    const started = await startEngine(config, {
      log: logger,
      metrics,
      ...(options.workerEntry ? { workerEntry: options.workerEntry } : {}),
      ...(tracing ? { tracing: tracing.tracing } : {}),
    });
    engine = started.engine;
    const { layout } = started;
    logAccessControl(config, log);
    state.setEngine(engine);
    log.info(
      {
        url,
        models: engine.registry.ids(),
        provider: engine.provider,
        workers: layout.workers,
        intraOpThreads: layout.intraOpThreads,
        layout: layout.reason,
        maxBatch: layout.maxBatch,
        cache: engine.cacheInfo,
        tracing: tracing !== undefined,
      },
      `ready: ${engine.registry.ids().length} model(s) on ${engine.provider}`,
    );
  } catch (error) {
    await app.close();
    await tracing?.shutdown();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      state.beginShutdown();
      engine.beginDrain();
      await app.close(); // resolves once every in-flight HTTP request has its response
      await engine.close();
      await tracing?.shutdown(); // exports the spans still buffered
    })();
    return closing;
  };
  return { app, url, state, engine, metrics, close };
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
  // Tracing first: every log line then carries the trace and span ids of the active span.
  const tracing = config.tracing.enabled ? startTracing(config.tracing) : undefined;
  const logger = pino({ level: config.logLevel, ...(tracing ? { mixin: tracing.logFields } : {}) });
  // A rejection nobody handled or an exception nobody caught is a bug: log it and stop (crash-only).
  const fatal = (kind: string) => (error: unknown) => {
    logger.fatal({ err: error }, `${kind}: exiting`);
    process.exit(70);
  };
  process.on('unhandledRejection', fatal('unhandled rejection'));
  process.on('uncaughtException', fatal('uncaught exception'));
  let server: RunningServer;
  try {
    server = await startServer(config, { logger, ...(tracing ? { tracing } : {}) });
  } catch (error) {
    if (error instanceof BundleError || error instanceof StartupError || error instanceof DeviceError) {
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
