/**
 * SIGTERM on the real server process: in-flight requests drain and complete with 200, the
 * process exits 0 within TOKLIP_SHUTDOWN_GRACE_MS; when the grace is too short, it exits 1
 * anyway (it never hangs).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { ChildServer } from '../helpers/child-server.js';
import { TINY, loadGolden } from '../helpers/golden.js';

function post(url: string, path: string, body: unknown, requestId: string): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify(body),
  });
}

/** Resolves once the server logged that it received every one of these requests. */
function received(server: ChildServer, ids: readonly string[]): Promise<unknown> {
  return Promise.all(ids.map((id) => server.waitForLog((r) => r.reqId === id && r.msg === 'incoming request')));
}

describe('SIGTERM', () => {
  const servers: ChildServer[] = [];
  after(() => Promise.all(servers.map((s) => s.stop())));

  it('drains in-flight requests (200) and exits 0 within the grace period', async () => {
    // Batches wait up to 10 s to fill; the grace is 8 s. The requests complete and the process
    // exits 0 only if the drain starts queued batches at once instead of waiting for them to fill.
    const server = await ChildServer.start({ TOKLIP_MAX_BATCH: '64', TOKLIP_MAX_DELAY_MS: '10000', TOKLIP_SHUTDOWN_GRACE_MS: '8000' });
    servers.push(server);
    const golden = await loadGolden();
    const ids = await golden.rows('ids');
    const requests = [
      post(server.url, '/v1/tokenize', { images: [golden.images[0]!.toString('base64')] }, 'drain-tokenize'),
      post(server.url, '/v1/encode', { tokens: [ids[1]] }, 'drain-encode'),
      post(server.url, '/v1/similarity', { tokens: [ids[2]], texts: golden.manifest.texts }, 'drain-similarity'),
    ];
    await received(server, ['drain-tokenize', 'drain-encode', 'drain-similarity']);
    server.process.kill('SIGTERM');

    const [tokenize, encode, similarity] = await Promise.all(requests);
    assert.equal(tokenize!.status, 200);
    assert.deepEqual(((await tokenize!.json()) as { tokens: number[][] }).tokens, [ids[0]]);
    assert.equal(encode!.status, 200);
    assert.equal(((await encode!.json()) as { embeddings: number[][] }).embeddings[0]!.length, TINY.dim);
    assert.equal(similarity!.status, 200);
    assert.equal(((await similarity!.json()) as { cosine: number[][] }).cosine[0]!.length, golden.manifest.texts.length);

    assert.deepEqual(await server.exited, { code: 0, signal: null });
    await server.waitForLog((r) => r.msg === 'shut down cleanly');
    assert.ok(!server.records.some((r) => r.msg === 'grace period over; exiting with work still in flight'));
  });

  it('exits 1 when in-flight work outlasts the grace period, instead of hanging', async () => {
    const server = await ChildServer.start({ TOKLIP_SHUTDOWN_GRACE_MS: '1', TOKLIP_MAX_IMAGES_PER_REQUEST: '16' });
    servers.push(server);
    // 16 photos of 2400 x 1600 through one image thread: well over a millisecond of work.
    const photo = (await readFile(new URL('../fixtures/images/inputs/rgb-2400x1600.jpg', import.meta.url))).toString('base64');
    const slow = post(server.url, '/v1/encode', { images: Array(16).fill(photo) }, 'slow').then(
      (res) => res.status,
      (error: unknown) => error,
    );
    await received(server, ['slow']);
    server.process.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 1, signal: null });
    assert.ok(server.records.some((r) => r.msg === 'grace period over; exiting with work still in flight'));
    assert.ok((await slow) instanceof Error, 'the unfinished request loses its connection');
  });
});
