/** Tracing: the interface the engine and the scheduler are handed, and its start-up from OTEL_* settings. */
export { type BatchMember, type BatchTracer, NO_TRACING, OtelTracing, type QueuedRequest, REQUEST_ID, type RunningBatch, type SpanAttributes, type Tracing } from './tracing.js';
export { startTracing, type TracingOptions, type TracingRuntime } from './sdk.js';
