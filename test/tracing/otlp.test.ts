/**
 * Tracing as an operator turns it on (docs/tracing.md): `npm start`'s entry point with only the
 * standard OTEL_* variables sends its spans to an OTLP/HTTP collector (protobuf on /v1/traces;
 * here a local HTTP server stands in for the collector), its log lines carry the trace id, and
 * SIGTERM exports what is still buffered.
 */
import assert from 'node:assert/strict';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ChildServer } from '../helpers/child-server.js';
import { postJson } from '../helpers/server.js';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

interface Export {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** A stand-in for an OTLP/HTTP collector: records every POST. */
class Collector {
  readonly exports: Export[] = [];
  private waiting: (() => void) | undefined;
  private readonly server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.exports.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      this.waiting?.();
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves with the first export (past or future) that passes the test. */
  async first(test: (e: Export) => boolean): Promise<Export> {
    for (;;) {
      const found = this.exports.find(test);
      if (found) return found;
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  close(): void {
    this.server.close();
  }
}

const mentions = (text: string) => (e: Export) => e.body.includes(Buffer.from(text));

describe('OTLP export to a collector', () => {
  const collector = new Collector();
  let server: ChildServer;

  before(async () => {
    server = await ChildServer.start({
      OTEL_EXPORTER_OTLP_ENDPOINT: await collector.listen(),
      OTEL_SERVICE_NAME: 'toklip-otlp-test',
      // Export within 100 ms of a span's end instead of the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
  });
  after(async () => {
    await server?.stop();
    collector.close();
  });

  it("sends the spans of a request as OTLP protobuf to /v1/traces, in the caller's trace", async () => {
    const res = await postJson(`${server.url}/v1/encode`, { texts: ['a photo of a cat'] }, { 'x-request-id': 'otlp-req-1', traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` });
    assert.equal(res.status, 200, res.text);
    const traceBytes = Buffer.from(TRACE_ID, 'hex');
    const sent = await collector.first((e) => mentions('otlp-req-1')(e) && e.body.includes(traceBytes));
    assert.equal(sent.path, '/v1/traces');
    assert.equal(sent.contentType, 'application/x-protobuf');
    for (const name of ['toklip.queue', 'toklip.inference', 'toklip-otlp-test']) await collector.first(mentions(name));
    const line = await server.waitForLog((r) => r.reqId === 'otlp-req-1' && r.trace_id !== undefined);
    assert.equal(line.trace_id, TRACE_ID);
  });
});

describe('OTLP export at shutdown', () => {
  const collector = new Collector();
  let server: ChildServer;

  before(async () => {
    server = await ChildServer.start({
      OTEL_EXPORTER_OTLP_ENDPOINT: await collector.listen(),
      // Nothing would be exported for 10 minutes: only the shutdown sends it.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
  });
  after(async () => {
    await server?.stop();
    collector.close();
  });

  it('SIGTERM exports the spans still buffered before the process exits', async () => {
    const res = await postJson(`${server.url}/v1/encode`, { texts: ['a dog'] }, { 'x-request-id': 'otlp-req-last' });
    assert.equal(res.status, 200, res.text);
    assert.equal(collector.exports.filter(mentions('otlp-req-last')).length, 0, 'still buffered');
    server.process.kill('SIGTERM');
    const { code } = await server.exited;
    assert.equal(code, 0);
    assert.ok(collector.exports.some(mentions('otlp-req-last')), 'exported before the exit');
  });
});
