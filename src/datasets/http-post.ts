/**
 * One POST of a prepared body over node:http(s) with a keep-alive agent per server: the body
 * goes out as the buffer it is (fetch copies a buffer body twice more on its way to the socket,
 * which a client sending gigabytes of images pays in CPU and garbage collection).
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
