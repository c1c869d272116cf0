/**
 * Requests of the dataset commands to toklip-serve replicas (--server). Image batches go as one
 * POST of a prepared body over node:http(s) with a keep-alive agent per server: the body goes out
 * as the buffer it is (fetch copies a buffer body twice more on its way to the socket, which a
 * client sending gigabytes of images pays in CPU and garbage collection). Small JSON requests
 * (ids to decode, texts) use fetch. A busy server (429, 503) or one that cannot be reached is
 * asked again, after its Retry-After or a second, up to MAX_TRIES times.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface PostAnswer {
  readonly status: number;
  /** Retry-After in seconds, when the answer has one. */
  readonly retryAfterSeconds: number | undefined;
  readonly body: Buffer;
}

export function keepAliveAgent(url: string, sockets: number): HttpAgent {
  return url.startsWith('https:') ? new HttpsAgent({ keepAlive: true, maxSockets: sockets }) : new HttpAgent({ keepAlive: true, maxSockets: sockets });
}

export function post(url: string, body: Buffer, headers: Readonly<Record<string, string>>, agent: HttpAgent, signal: AbortSignal): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'POST', agent, signal, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const retryAfter = Number(res.headers['retry-after']);
        resolve({ status: res.statusCode ?? 0, retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Tries of one request while the server is busy or unreachable. */
export const MAX_TRIES = 20;

/** A --server replica that cannot be used: the run stops with this message (exit 1). */
export class ServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerError';
  }
}

/** Whether an answer says to ask again later: rate limited or queue full (429), not ready or overloaded (503). */
export function isBusy(status: number): boolean {
  return status === 429 || status === 503;
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function waitOrAbort(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A JSON POST with fetch, asked again while the server is busy or unreachable; the first other answer, its body parsed. */
export async function postJsonPatiently<T>(
  url: string,
  json: unknown,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal,
  tries = MAX_TRIES,
): Promise<{ status: number; body: T }> {
  for (let attempt = 1; ; attempt++) {
    let reason: string;
    let waitMs = 1000;
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(json), signal });
      if (!isBusy(response.status)) return { status: response.status, body: (await response.json()) as T };
      await response.body?.cancel();
      reason = `answered ${response.status}`;
      const retryAfter = Number(response.headers.get('retry-after'));
      if (Number.isFinite(retryAfter) && retryAfter > 0) waitMs = retryAfter * 1000;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      reason = `cannot be reached: ${(error as Error).message}`;
    }
    if (attempt >= tries) throw new ServerError(`${url} ${reason} (${attempt} tries)`);
    await waitOrAbort(waitMs, signal);
  }
}
