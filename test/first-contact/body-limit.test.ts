/**
 * A body over TOKLIP_BODY_LIMIT_MB is answered with 413, every time, to a client that sends the
 * whole body before it reads the answer: Node's fetch (undici) saw EPIPE / a reset connection
 * instead in some of its uploads when the server answered early and closed (issue 26). Fifty
 * uploads of 12 MiB against an 8 MiB limit, as a JSON body and as a raw image body. The server
 * runs in its own process (ChildServer), as a client meets it: one sharing the test's event loop
 * never closes a connection while the client is still writing to it, and hides the fault.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChildServer } from '../helpers/child-server.js';

const LIMIT_MB = 8;
const UPLOAD_BYTES = 12 * 1024 * 1024;
const UPLOADS = 50;

/** What one upload got: the status and problem code, or the error fetch threw (and its cause). */
async function upload(url: string, contentType: string, body: Uint8Array): Promise<string> {
  try {
    const res = await fetch(`${url}/v1/tokenize`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const text = await res.text();
    let code = '';
    try {
      code = String((JSON.parse(text) as { code?: unknown }).code);
    } catch {
      code = `(not JSON: ${text.slice(0, 80)})`;
    }
    return `${res.status} ${code}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return `fetch failed: ${cause?.code ?? ''} ${cause?.message ?? String(error)}`;
  }
}

describe(`bodies over TOKLIP_BODY_LIMIT_MB=${LIMIT_MB} through Node's fetch`, () => {
  let server: ChildServer;
  before(async () => {
    server = await ChildServer.start({ TOKLIP_BODY_LIMIT_MB: String(LIMIT_MB) });
  });
  after(() => server?.stop());

  // A JSON body (a base64 "image" string that alone passes the limit) and a raw image body
  // (the PNG signature, then bytes up to 12 MiB), alternately.
  const bodies = [
    { kind: 'JSON', contentType: 'application/json', body: new TextEncoder().encode(JSON.stringify({ images: ['A'.repeat(UPLOAD_BYTES)] })) },
    { kind: 'image/png', contentType: 'image/png', body: Uint8Array.from({ length: UPLOAD_BYTES }, (_, i) => (i < 8 ? [137, 80, 78, 71, 13, 10, 26, 10][i]! : i & 0xff)) },
  ];

  it(`${UPLOADS} uploads of 12 MiB (JSON and raw image bodies) all receive 413 payload_too_large, none a broken connection`, async () => {
    for (const { body } of bodies) assert.ok(body.byteLength > LIMIT_MB * 1024 * 1024);
    const outcomes: string[] = [];
    // Five at a time: several early answers overlap, as from a busy client.
    for (let i = 0; i < UPLOADS; i += 5) {
      const batch = Array.from({ length: 5 }, (_, j) => bodies[(i + j) % bodies.length]!);
      outcomes.push(...(await Promise.all(batch.map(async ({ kind, contentType, body }) => `${kind}: ${await upload(server.url, contentType, body)}`))));
    }
    const counts = new Map<string, number>();
    for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { 'JSON: 413 payload_too_large': UPLOADS / 2, 'image/png: 413 payload_too_large': UPLOADS / 2 }, `outcomes of ${UPLOADS} uploads`);
  });
});
