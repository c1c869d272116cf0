/**
 * Prometheus metrics (prom-client). One registry per service instance, made by createMetrics(),
 * so that tests can build several apps without sharing global state. Every name starts with
 * `toklip_`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/**
 * Sampling interval of the event-loop delay monitor behind `toklip_nodejs_eventloop_lag_*`
 * (prom-client's default, stated here so readers of those gauges can use it). The monitor
 * records the time between two ticks of a timer of this interval, so an idle loop reads about
 * this much: the loop's lag is the gauge minus this interval.
 */
export const EVENT_LOOP_SAMPLING_MS = 10;

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'toklip_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
  const batcherLabels = ['model', 'graph'] as const;
  return {
    registry,
    requests: new Counter({
      name: 'toklip_http_requests_total',
      help: 'HTTP requests by route, method and status code',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'toklip_http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['route'] as const,
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'toklip_queue_depth',
      help: 'Items (images, token rows, texts) waiting in a batcher',
      labelNames: batcherLabels,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'toklip_batch_size',
      help: 'Items per ONNX Runtime call',
      labelNames: batcherLabels,
      buckets: BATCH_BUCKETS,
      registers: [registry],
    }),
    queueTime: new Histogram({
      name: 'toklip_queue_time_seconds',
      help: 'Time an item waited in its batcher before its batch started',
      labelNames: batcherLabels,
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    }),
    inferenceTime: new Histogram({
      name: 'toklip_inference_time_seconds',
      help: 'Time of one batch in a worker (tensor assembly + ONNX Runtime run)',
      labelNames: batcherLabels,
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    }),
    preprocessTime: new Histogram({
      name: 'toklip_preprocess_time_seconds',
      help: 'Time to decode and preprocess the images of one request, by engine operation',
      labelNames: ['operation'] as const,
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'toklip_refusals_total',
      help:
        'Requests refused by the admission controller (src/engine/admission.ts), by reason: event_loop_delay (503 overloaded), ' +
        'preprocess_queue_limit, queue_limit, predicted_wait (429 queue_full), deadline (504 deadline_exceeded)',
      labelNames: ['reason', 'model'] as const,
      registers: [registry],
    }),
    timedOut: new Counter({
      name: 'toklip_timed_out_total',
      help: 'Queued items dropped before inference because their request deadline passed (graph "preprocess": images waiting for a preprocessing thread)',
      labelNames: batcherLabels,
      registers: [registry],
    }),
    cancelled: new Counter({
      name: 'toklip_cancelled_total',
      help: 'Queued items dropped before inference because their client went away',
      labelNames: batcherLabels,
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'toklip_worker_restarts_total',
      help: 'Inference workers replaced after a crash',
      registers: [registry],
    }),
    cacheHits: new Counter({
      name: 'toklip_cache_hits_total',
      help: 'Items (images, token rows, texts) answered from the result cache, by engine operation and source (memory, redis, or inflight: computed for another request at the same moment)',
      labelNames: ['operation', 'source'] as const,
      registers: [registry],
    }),
    cacheMisses: new Counter({
      name: 'toklip_cache_misses_total',
      help: 'Items computed while the result cache was on (not found in any tier), by engine operation',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    cacheBytes: new Gauge({
      name: 'toklip_cache_bytes',
      help: 'Bytes held by the in-process result cache (values, keys and bookkeeping; bounded by TOKLIP_CACHE_MB)',
      registers: [registry],
    }),
    cacheEntries: new Gauge({
      name: 'toklip_cache_entries',
      help: 'Items held by the in-process result cache',
      registers: [registry],
    }),
    cacheEvictions: new Counter({
      name: 'toklip_cache_evictions_total',
      help: 'Items evicted from the in-process result cache to stay within TOKLIP_CACHE_MB (least recently used first)',
      registers: [registry],
    }),
    cacheRedisErrors: new Counter({
      name: 'toklip_cache_redis_errors_total',
      help: 'Redis cache reads and writes that failed (the items were computed): timeout (no answer within TOKLIP_CACHE_REDIS_TIMEOUT_MS), error (refused, e.g. out of memory, or connection lost), unavailable (not asked: disconnected, or backing off after a timeout)',
      labelNames: ['operation', 'reason'] as const,
      registers: [registry],
    }),
    cacheCorrupt: new Counter({
      name: 'toklip_cache_corrupt_total',
      help: 'Cached values that did not parse (treated as misses)',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
