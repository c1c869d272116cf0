/**
 * Queued work that must never reach a worker, through real HTTP: a client that disconnects
 * while its item waits in a batcher, and a request whose deadline passes there. The server
 * holds batches for up to 10 s (TOKLIP_MAX_DELAY_MS) so that a lone item stays queued; the
 * tests watch /metrics (queue depth, cancelled / timed-out counters, batch count) instead of
 * guessing times.
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/http/server.js';
import { TINY_MODEL } from '../helpers/golden.js';
import { startTestServer } from '../helpers/server.js';

const TEXT_ENCODER = `{model="${TINY_MODEL}",graph="text_encoder"}`;

describe('queued work dropped before inference (HTTP)', () => {
  let server: RunningServer;

  before(async () => {
    server = await startTestServer({ TOKLIP_MAX_DELAY_MS: '10000', TOKLIP_WORKERS: '1' });
  });
  after(() => server.close());

  /** A sample of /metrics for the text_encoder batcher; a labelled series not yet touched reads 0. */
  async function sample() {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series}${TEXT_ENCODER} `));
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    };
    return {
      depth: value('toklip_queue_depth'),
      cancelled: value('toklip_cancelled_total'),
      timedOut: value('toklip_timed_out_total'),
      batches: value('toklip_batch_size_count'),
    };
  }

  /** Polls /metrics (bounded) until the condition holds; returns that sample. */
  async function until(what: string, test: (s: Awaited<ReturnType<typeof sample>>) => boolean) {
    for (let attempt = 0; attempt < 400; attempt++) {
      const s = await sample();
      if (test(s)) return s;
      await delay(25);
    }
    throw new Error(`timed out waiting for: ${what}; last ${JSON.stringify(await sample())}`);
  }

  const encodeText = (init: RequestInit = {}) =>
    fetch(`${server.url}/v1/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      body: JSON.stringify({ texts: ['a photo of a cat'] }),
      ...(init.signal ? { signal: init.signal } : {}),
    });

  it('a client that disconnects while queued has its item dropped and counted as cancelled', async () => {
    const before = await sample();
    assert.equal(before.depth, 0);
    const client = new AbortController();
    const response = encodeText({ signal: client.signal }).then(
      () => 'answered' as const,
      (error: unknown) => (error as Error).name,
    );
    await until('the text queued', (s) => s.depth === 1);
    client.abort();
    assert.equal(await response, 'AbortError');
    const after = await until('the item dropped', (s) => s.depth === 0);
    assert.equal(after.cancelled - before.cancelled, 1, 'one item cancelled');
    assert.equal(after.batches, before.batches, 'no batch ran for it');
  });

  it('a deadline that passes while queued gives 504 and counts the item as timed out', async () => {
    const before = await sample();
    const response = encodeText({ headers: { 'x-request-timeout-ms': '3000' } });
    await until('the text queued', (s) => s.depth === 1);
    const res = await response;
    assert.equal(res.status, 504);
    assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(((await res.json()) as { code: string }).code, 'deadline_exceeded');
    const after = await sample();
    assert.equal(after.depth, 0);
    assert.equal(after.timedOut - before.timedOut, 1, 'one item timed out');
    assert.equal(after.batches, before.batches, 'no batch ran for it');
  });
});
