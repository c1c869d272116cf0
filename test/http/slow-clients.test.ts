/**
 * Slow clients cannot hold connections: headers or a body that do not arrive within the
 * request deadline (TOKLIP_REQUEST_TIMEOUT_MS) get 408 and a closed connection, and the server
 * stays ready.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/http/server.js';
import { startTestServer } from '../helpers/server.js';

/** Writes `head` on a raw socket, then nothing: resolves with what the server sent before closing. */
function stall(url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

describe('slow clients', () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer({ TOKLIP_REQUEST_TIMEOUT_MS: '1500' });
  });
  after(() => server.close());

  it('a body that stops arriving gets 408 and the connection is closed', async () => {
    const answer = await stall(server.url, 'POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"texts": [');
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it('headers that never end get 408 and the connection is closed', async () => {
    const answer = await stall(server.url, 'POST /v1/encode HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it('the server is still ready', async () => {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });
});
