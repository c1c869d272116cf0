/**
 * Start-up of tracing when the OTEL_* variables ask for it (TracingConfig): an OpenTelemetry
 * tracer provider exporting OTLP over http/protobuf in batches, registered as the process's
 * provider with the AsyncLocalStorage context manager and the W3C trace-context propagator
 * (an incoming `traceparent` is continued), and @fastify/otel for the request and handler
 * spans. The SDK reads the standard variables itself: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
 * _HEADERS, _TIMEOUT, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES.
 *
 * Nothing happens at import: startTracing() registers, shutdown() flushes and unregisters.
 */
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { FastifyPluginCallback } from 'fastify';
import type { TracingConfig } from '../config/schema.js';
import { OtelTracing, REQUEST_ID, type Tracing } from './tracing.js';

/** Routes that get no spans: probes and documentation, called every few seconds by machines. */
const UNTRACED = /^\/(healthz|readyz|metrics|openapi\.json|v2\/health\/(live|ready)|docs)(\/|$|\?)/;

export interface TracingRuntime {
  readonly tracing: Tracing;
  /** @fastify/otel's plugin: registered before the routes, it opens each request's span. */
  readonly fastifyPlugin: FastifyPluginCallback;
  /** trace_id and span_id of the active span, for every log line (a pino mixin). */
  logFields(): Record<string, string>;
  /** Exports the spans ended so far. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered and unregisters the provider. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go; default: OTLP over http/protobuf as the OTEL_EXPORTER_OTLP_* variables say. */
  readonly exporter?: SpanExporter;
  readonly serviceVersion?: string;
}

export function startTracing(config: TracingConfig, options: TracingOptions = {}): TracingRuntime {
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': config.serviceName, ...(options.serviceVersion ? { 'service.version': options.serviceVersion } : {}) }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(options.exporter ?? new OTLPTraceExporter())],
  });
  // The process's provider, context manager (AsyncLocalStorage) and W3C propagators.
  provider.register();
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    ignorePaths: (route) => UNTRACED.test(route.url ?? ''),
    requestHook: (span, request) => span.setAttribute(REQUEST_ID, request.id),
    lifecycleHook: (span, info) => span.setAttribute(REQUEST_ID, info.request.id),
  });
  instrumentation.setTracerProvider(provider);
  return {
    tracing: new OtelTracing(provider.getTracer('toklip-serve', options.serviceVersion)),
    fastifyPlugin: instrumentation.plugin(),
    logFields: (): Record<string, string> => {
      const span = trace.getActiveSpan();
      if (span === undefined) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
    forceFlush: () => provider.forceFlush(),
    shutdown: async () => {
      instrumentation.disable();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
