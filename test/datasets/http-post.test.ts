/** --server requests of the dataset commands: a busy or unreachable replica is asked again, within a bound. */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ServerError, postJsonPatiently } from '../../src/datasets/http-post.js';

describe('postJsonPatiently', () => {
  let server: Server;
  let url: string;
  let answers: { status: number; retryAfter?: string }[] = [];
  let seen: unknown[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        const answer = answers.shift() ?? { status: 200 };
        res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}) });
        res.end(JSON.stringify({ status: answer.status }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/decode`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('asks again after 429 and 503, waiting Retry-After, and returns the first other answer', async () => {
    answers = [{ status: 429, retryAfter: '1' }, { status: 503 }];
    seen = [];
    const started = performance.now();
    const answer = await postJsonPatiently<{ status: number }>(url, { tokens: [[1, 2]] }, {}, new AbortController().signal);
    assert.deepEqual(answer, { status: 200, body: { status: 200 } });
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[2], { tokens: [[1, 2]] });
    assert.ok(performance.now() - started >= 1900, 'waited about a second after each busy answer');
  });

  it('returns refusals other than busy at once (the caller reads their problem document)', async () => {
    answers = [{ status: 422 }];
    seen = [];
    assert.deepEqual(await postJsonPatiently(url, {}, {}, new AbortController().signal), { status: 422, body: { status: 422 } });
    assert.equal(seen.length, 1);
  });

  it('gives up with a ServerError after its tries, naming the URL and the last answer', async () => {
    answers = [{ status: 503 }, { status: 503 }];
    await assert.rejects(postJsonPatiently(url, {}, {}, new AbortController().signal, 2), (error: unknown) => {
      assert.ok(error instanceof ServerError);
      assert.match(error.message, /\/v1\/decode answered 503 \(2 tries\)/);
      return true;
    });
  });

  it('an unreachable server is a ServerError after its tries; an abort ends the wait with its reason', async () => {
    const closed = 'http://127.0.0.1:9/v1/decode';
    await assert.rejects(postJsonPatiently(closed, {}, {}, new AbortController().signal, 1), /cannot be reached/);
    const abort = new AbortController();
    answers = [{ status: 503 }];
    const pending = postJsonPatiently(url, {}, {}, abort.signal);
    setTimeout(() => abort.abort(new Error('interrupted')), 200);
    await assert.rejects(pending, /interrupted/);
  });
});
