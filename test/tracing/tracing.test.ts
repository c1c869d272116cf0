/**
 * OpenTelemetry tracing of the running service (tiny-64), exported to the SDK's in-memory
 * exporter: two requests that share their batches give the documented spans (docs/tracing.md)
 * with their parent/child links, the batch attributes and links between the requests of a
 * batch; an incoming W3C traceparent is continued; the request id is on every span and on the
 * log lines, with the trace id; probes are not traced; tracing is off without OTEL_* settings.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import sharp from 'sharp';
import { loadConfig } from '../../src/config/index.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { type TracingRuntime, startTracing } from '../../src/tracing/index.js';
import { FIXTURE_BUNDLES_DIR } from '../helpers/golden.js';
import { postJson } from '../helpers/server.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  const logLines: Record<string, unknown>[] = [];
  let tracing: TracingRuntime;
  let server: RunningServer;

  before(async () => {
    const config = loadConfig(
      {
        TOKLIP_HOST: '127.0.0.1',
        TOKLIP_PORT: '0',
        TOKLIP_MODELS_DIR: FIXTURE_BUNDLES_DIR,
        TOKLIP_DEVICE: 'cpu',
        TOKLIP_WORKERS: '1',
        TOKLIP_INTRA_OP_THREADS: '1',
        TOKLIP_IMAGE_THREADS: '1',
        TOKLIP_MAX_EVENT_LOOP_DELAY_MS: '0',
        // A batch starts when it holds 2 items (the 10 s delay does not pass here): the two requests share it.
        TOKLIP_MAX_BATCH: '2',
        TOKLIP_MAX_DELAY_MS: '10000',
        TOKLIP_LOG_LEVEL: 'debug',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_SERVICE_NAME: 'toklip-under-test',
      },
      [],
    );
    assert.equal(config.tracing.enabled, true);
    tracing = startTracing(config.tracing, { exporter });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'debug', mixin: tracing.logFields }, sink);
    server = await startServer(config, { logger, tracing });
  });
  after(() => server?.close());

  it('one request: request, handler, preprocess, queue and inference spans, linked to the other request of each batch', async () => {
    const image = async (r: number) =>
      (await sharp({ create: { width: 80, height: 64, channels: 3, background: { r, g: 90, b: 40 } } }).png().toBuffer()).toString('base64');
    const [a, b] = await Promise.all([
      postJson(`${server.url}/v1/encode`, { images: [await image(200)] }, { 'x-request-id': 'req-a', traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` }),
      postJson(`${server.url}/v1/encode`, { images: [await image(10)] }, { 'x-request-id': 'req-b' }),
    ]);
    assert.equal(a.status, 200, a.text);
    assert.equal(b.status, 200, b.text);
    await fetch(`${server.url}/healthz`);
    await tracing.forceFlush();
    const spans = exporter.getFinishedSpans();
    const of = (id: string) => spans.filter((s) => s.attributes['toklip.request_id'] === id);

    // Every span of the service carries a request id; probes have none.
    assert.ok(spans.length > 0);
    for (const span of spans) assert.match(String(span.attributes['toklip.request_id']), /^req-[ab]$/, `${span.name} has the request id`);
    assert.equal(spans.filter((s) => String(s.attributes['url.path']).startsWith('/healthz')).length, 0, 'probes are not traced');
    assert.equal(spans[0]!.resource.attributes['service.name'], 'toklip-under-test');

    const spansA = of('req-a');
    const named = (name: string) => spansA.filter((s) => s.name === name);
    // The incoming traceparent is continued: same trace, the caller's span is the parent of the request span.
    for (const span of spansA) assert.equal(span.spanContext().traceId, TRACE_ID, `${span.name} is in the caller's trace`);
    const [request] = named('request');
    assert.ok(request, spansA.map((s) => s.name).join(', '));
    assert.equal(request.kind, SpanKind.SERVER);
    assert.equal(parentOf(request), CALLER_SPAN);
    assert.equal(request.attributes['http.route'], '/v1/encode');
    assert.equal(request.attributes['http.response.status_code'], 200);
    const handler = spansA.find((s) => s.name.startsWith('handler - '));
    assert.ok(handler);
    assert.equal(parentOf(handler), request.spanContext().spanId);
    const handlerId = handler.spanContext().spanId;

    const [preprocess] = named('toklip.preprocess');
    assert.ok(preprocess);
    assert.equal(parentOf(preprocess), handlerId);
    assert.equal(preprocess.attributes['toklip.items'], 1);

    const queues = named('toklip.queue');
    const inferences = named('toklip.inference');
    assert.deepEqual(queues.map((s) => s.attributes['toklip.graph']).sort(), ['semantic_encoder', 'vq_encoder']);
    assert.deepEqual(inferences.map((s) => s.attributes['toklip.graph']).sort(), ['semantic_encoder', 'vq_encoder']);
    const queuesB = of('req-b').filter((s) => s.name === 'toklip.queue');
    for (const inference of inferences) {
      const graph = inference.attributes['toklip.graph'];
      assert.equal(parentOf(inference), handlerId, 'inference is a child of the handler');
      assert.equal(inference.attributes['toklip.batch.size'], 2);
      assert.equal(inference.attributes['toklip.batch.requests'], 2);
      assert.deepEqual([...(inference.attributes['toklip.batch.request_ids'] as string[])].sort(), ['req-a', 'req-b']);
      assert.equal(inference.attributes['toklip.items'], 1);
      assert.equal(inference.attributes['toklip.model'], 'tiny-64');
      // Linked to the other request of its batch: its queue span for the same graph.
      const otherQueue = queuesB.find((s) => s.attributes['toklip.graph'] === graph)!;
      assert.equal(inference.links.length, 1);
      assert.equal(inference.links[0]!.context.spanId, otherQueue.spanContext().spanId);
      assert.equal(inference.links[0]!.attributes?.['toklip.request_id'], 'req-b');
      // The wait ends when the batch starts.
      const queue = queues.find((s) => s.attributes['toklip.graph'] === graph)!;
      assert.equal(parentOf(queue), handlerId);
      assert.ok(hrMs(queue.endTime) <= hrMs(inference.startTime) + 1, 'the queue span ends as inference starts');
    }
    // Order of the stages: preprocessing, then vq_encoder, then semantic_encoder.
    const start = (graph: string) => hrMs(inferences.find((s) => s.attributes['toklip.graph'] === graph)!.startTime);
    assert.ok(hrMs(preprocess.endTime) <= start('vq_encoder') + 1);
    assert.ok(start('vq_encoder') < start('semantic_encoder'));

    // The request without a traceparent is a trace of its own.
    const requestB = of('req-b').find((s) => s.name === 'request')!;
    assert.notEqual(requestB.spanContext().traceId, TRACE_ID);
    assert.equal(parentOf(requestB), undefined);
  });

  it('log lines of a request carry its request id and the trace and span ids', async () => {
    logLines.length = 0;
    const res = await postJson(`${server.url}/v1/encode`, { texts: ['a zebra photo', 'a quokka'] }, { 'x-request-id': 'req-log', traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` });
    assert.equal(res.status, 200, res.text);
    const unknown = logLines.find((l) => l.msg === 'texts hold words the model cannot represent');
    assert.ok(unknown, 'the route logged the unknown words');
    assert.equal(unknown.reqId, 'req-log');
    assert.equal(unknown.trace_id, TRACE_ID);
    assert.match(String(unknown.span_id), /^[0-9a-f]{16}$/);
    const batch = logLines.find((l) => l.msg === 'batch done' && (l.requestIds as string[]).includes('req-log'));
    assert.ok(batch, 'batch logs list their request ids');
  });

  it('is off unless OTEL_* settings ask for it', () => {
    assert.equal(loadConfig({}, []).tracing.enabled, false);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, []).tracing.enabled, true);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }, []).tracing.enabled, false);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }, []).tracing.enabled, false);
    assert.throws(() => loadConfig({ OTEL_TRACES_EXPORTER: 'zipkin' }, []), /OTEL_TRACES_EXPORTER=zipkin/);
    assert.throws(() => loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, []), /http\/protobuf/);
  });
});

function hrMs([seconds, nanos]: readonly [number, number]): number {
  return seconds * 1000 + nanos / 1e6;
}
