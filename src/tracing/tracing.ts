/**
 * What the engine and the scheduler report to tracing, behind one small interface: the spans
 * of a request's own stages (preprocessing, queue wait, inference), attributes of the active
 * span, and nothing at all when tracing is off (NO_TRACING). Only this folder imports
 * OpenTelemetry; the code it is handed to never asks whether tracing is on.
 *
 * Spans (docs/deploy.md, "Tracing"), each with `toklip.request_id`:
 *   toklip.preprocess   a request's images decoded and preprocessed (engine)
 *   toklip.queue        a request's items waiting in one batcher until its last item's batch starts
 *   toklip.inference    one batch holding items of the request: toklip.batch.size, toklip.batch.requests,
 *                       and a link to the queue span of every other request in the batch
 * Queue and inference spans are children of the span active when the request's items were
 * queued (the route handler's, under @fastify/otel's request span).
 */
import { type Attributes, type Context, type Link, type Span, SpanStatusCode, type Tracer, context, trace } from '@opentelemetry/api';

export type SpanAttributes = Attributes;

/** A request's items waiting in one batcher. */
export interface QueuedRequest {
  /** The wait is over (its last item's batch started) or the request left the queue (error). */
  end(error?: unknown): void;
}

export interface BatchMember {
  readonly requestId: string;
  readonly queued: QueuedRequest;
  /** Items of this request in the batch. */
  readonly items: number;
}

export interface RunningBatch {
  end(error?: unknown): void;
}

/** The tracing of one batcher (one model and graph). */
export interface BatchTracer {
  queued(requestId: string, items: number): QueuedRequest;
  batch(size: number, members: readonly BatchMember[]): RunningBatch;
}

export interface Tracing {
  /** Runs `work` in a span, child of the active span. */
  span<T>(name: string, attributes: SpanAttributes, work: () => Promise<T>): Promise<T>;
  /** Adds attributes to the active span (if any). */
  annotate(attributes: SpanAttributes): void;
  batcher(attributes: { model: string; graph: string }): BatchTracer;
}

const IGNORED: QueuedRequest & RunningBatch = { end: () => {} };
const NO_BATCH_TRACER: BatchTracer = { queued: () => IGNORED, batch: () => IGNORED };

/** Tracing off: no spans, no work. */
export const NO_TRACING: Tracing = {
  span: (_name, _attributes, work) => work(),
  annotate: () => {},
  batcher: () => NO_BATCH_TRACER,
};

export const REQUEST_ID = 'toklip.request_id';

function fail(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, ...(error instanceof Error ? { message: error.message } : {}) });
}

class OtelQueued implements QueuedRequest {
  private ended = false;

  constructor(
    readonly parent: Context,
    readonly span: Span,
  ) {}

  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (error !== undefined) fail(this.span, error);
    this.span.end();
  }
}

/** Tracing with an OpenTelemetry tracer; the parent of each span is the caller's active context. */
export class OtelTracing implements Tracing {
  constructor(private readonly tracer: Tracer) {}

  span<T>(name: string, attributes: SpanAttributes, work: () => Promise<T>): Promise<T> {
    return this.tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await work();
      } catch (error) {
        fail(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
  }

  annotate(attributes: SpanAttributes): void {
    trace.getActiveSpan()?.setAttributes(attributes);
  }

  batcher(stage: { model: string; graph: string }): BatchTracer {
    const tracer = this.tracer;
    const base = { 'toklip.model': stage.model, 'toklip.graph': stage.graph };
    return {
      queued(requestId, items) {
        const parent = context.active();
        const span = tracer.startSpan('toklip.queue', { attributes: { ...base, [REQUEST_ID]: requestId, 'toklip.items': items } }, parent);
        return new OtelQueued(parent, span);
      },
      batch(size, members) {
        const traced = members.filter((m): m is BatchMember & { queued: OtelQueued } => m.queued instanceof OtelQueued);
        const requestIds = [...new Set(members.map((m) => m.requestId))];
        const spans = traced.map((member) => {
          const links: Link[] = traced
            .filter((other) => other !== member)
            .map((other) => ({ context: other.queued.span.spanContext(), attributes: { [REQUEST_ID]: other.requestId } }));
          return tracer.startSpan(
            'toklip.inference',
            {
              attributes: {
                ...base,
                [REQUEST_ID]: member.requestId,
                'toklip.batch.size': size,
                'toklip.batch.requests': requestIds.length,
                'toklip.batch.request_ids': requestIds,
                'toklip.items': member.items,
              },
              links,
            },
            member.queued.parent,
          );
        });
        return {
          end(error?: unknown) {
            for (const span of spans) {
              if (error !== undefined) fail(span, error);
              span.end();
            }
          },
        };
      },
    };
  }
}
