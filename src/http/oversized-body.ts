/**
 * A body over the limit is refused (413) before it has all arrived. If the server answered and
 * closed at once, the client, still uploading, would often see its connection reset (EPIPE)
 * instead of the 413. So the rest of the body is read and thrown away first, up to a bound:
 * past it, or if the client stops sending, the answer goes out and the connection closes.
 * Node's requestTimeout still bounds the whole request in time.
 */
import type { IncomingMessage } from 'node:http';

/** Most bytes of an oversized body read and discarded, as a multiple of the body limit. */
export const DISCARD_LIMIT_FACTOR = 4;

/** Resolves true once the body has ended, false when it is over `maxBytes` or the connection closed first. */
export function discardRestOfBody(raw: IncomingMessage, maxBytes: number): Promise<boolean> {
  if (raw.complete || raw.readableEnded) return Promise.resolve(true);
  if (raw.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let discarded = 0;
    const finish = (ended: boolean) => {
      raw.off('data', onData);
      raw.off('end', onEnd);
      raw.off('close', onClose);
      raw.off('error', onClose);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > maxBytes) {
        raw.pause();
        finish(false);
      }
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(raw.complete);
    raw.on('data', onData);
    raw.once('end', onEnd);
    raw.once('close', onClose);
    raw.once('error', onClose);
    raw.resume();
  });
}
