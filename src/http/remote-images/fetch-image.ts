/**
 * Downloads an image URL a client named (TOKLIP_ALLOW_URLS), defending the network behind the
 * service (SSRF):
 * - the URL passes url-policy.ts (https, no credentials, default port, allow-listed host);
 * - the host is resolved once (c-ares, with a timeout; /etc/hosts is not consulted) and every
 *   address must be public (address-policy.ts), or the URL is refused;
 * - the connection is pinned to the checked address (the socket's lookup returns it), so a
 *   second DNS answer (rebinding) cannot move it; TLS still verifies the certificate for the host;
 * - no redirects are followed; connect and whole-download timeouts; a byte cap per image and a
 *   budget per request (the body limit) that its parallel downloads share, charged as bytes arrive.
 */
import { Resolver } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { ServiceError, isServiceError } from '../../errors.js';
import { limitText } from '../limits-text.js';
import { classifyAddress } from './address-policy.js';
import { type UrlPolicy, checkImageUrl } from './url-policy.js';

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

export interface RemoteImageOptions {
  readonly policy: UrlPolicy;
  /** Largest image downloaded from one URL. */
  readonly maxBytes: number;
  /** Time to open the connection (TCP, and TLS for https). */
  readonly connectTimeoutMs: number;
  /** Time for the whole download, resolution included. */
  readonly timeoutMs: number;
  /** Test-only: let URLs reach loopback and private addresses (tests serve images locally). */
  readonly unsafeAllowPrivateAddresses?: boolean;
  /** Every address of a host; defaults to a c-ares resolver (A and AAAA). */
  readonly resolve?: (host: string, signal: AbortSignal) => Promise<ResolvedAddress[]>;
}

/**
 * What a request may download in all (its body limit). Its downloads run in parallel and share
 * it: every chunk is charged as it arrives, so together they can never hold more than `total`.
 */
export class ByteBudget {
  private left: number;

  constructor(readonly total: number) {
    this.left = total;
  }

  get remaining(): number {
    return this.left;
  }

  /** Charges `bytes`; false, charging nothing, when they do not fit. */
  take(bytes: number): boolean {
    if (bytes > this.left) return false;
    this.left -= bytes;
    return true;
  }
}

export interface RemoteImageFetcher {
  fetch(text: string, row: number, budget: ByteBudget, signal?: AbortSignal): Promise<Buffer>;
}

const USER_AGENT = 'toklip-serve (image fetch)';

function failed(row: number, reason: string): ServiceError {
  return new ServiceError('url_fetch_failed', `images[${row}]: ${reason}`, { extensions: { position: { row } } });
}

function refused(row: number, reason: string): ServiceError {
  return new ServiceError('url_not_allowed', `images[${row}]: ${reason}`, { extensions: { position: { row } } });
}

async function resolveWithCares(host: string, timeoutMs: number): Promise<ResolvedAddress[]> {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses: ResolvedAddress[] = [
    ...(v4.status === 'fulfilled' ? v4.value.map((address) => ({ address, family: 4 as const })) : []),
    ...(v6.status === 'fulfilled' ? v6.value.map((address) => ({ address, family: 6 as const })) : []),
  ];
  if (addresses.length === 0) {
    const reason = v4.status === 'rejected' ? (v4.reason as NodeJS.ErrnoException) : undefined;
    throw new Error(reason?.code ?? 'no address');
  }
  return addresses;
}

/** A socket lookup that always answers the checked address. */
function pinnedLookup(target: ResolvedAddress): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  }) as unknown as LookupFunction;
}

function describeNetworkError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'the connection was refused';
    case 'ECONNRESET':
      return 'the connection was reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'the host is unreachable';
    default:
      return /certificate|self.signed|TLS|SSL/i.test(error.message) || error.code?.startsWith('ERR_TLS') || error.code?.includes('CERT')
        ? `TLS failed: ${error.message}`
        : `the download failed: ${error.message}`;
  }
}

export function createRemoteImageFetcher(options: RemoteImageOptions): RemoteImageFetcher {
  const resolve = options.resolve ?? ((host: string) => resolveWithCares(host, Math.min(options.timeoutMs, 5000)));

  async function addressOf(url: URL, row: number, signal: AbortSignal): Promise<ResolvedAddress> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const literal = isIP(host);
    let addresses: ResolvedAddress[];
    if (literal !== 0) {
      addresses = [{ address: host, family: literal as 4 | 6 }];
    } else {
      try {
        addresses = await resolve(host, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        throw failed(row, `host '${host}' could not be resolved (${(error as Error).message})`);
      }
    }
    if (!options.unsafeAllowPrivateAddresses) {
      // Every address must be public: a name with one private answer is refused whole.
      for (const { address } of addresses) {
        const verdict = classifyAddress(address);
        if (!verdict.allowed) {
          throw refused(row, `host '${host}' resolves to ${address} (${verdict.range}); only public addresses are fetched`);
        }
      }
    }
    return addresses[0]!;
  }

  function download(url: URL, target: ResolvedAddress, row: number, budget: ByteBudget, signal: AbortSignal): Promise<Buffer> {
    const imageTooLarge = () =>
      new ServiceError('payload_too_large', `images[${row}]: the image at this URL exceeds the limit of ${limitText(options.maxBytes)}`, {
        extensions: { position: { row } },
      });
    const budgetSpent = () =>
      new ServiceError(
        'payload_too_large',
        `images[${row}]: the images downloaded for this request exceed the request body limit of ${limitText(budget.total)}`,
        { extensions: { position: { row } } },
      );
    return new Promise<Buffer>((resolvePromise, rejectPromise) => {
      let settled = false;
      const settle = (error: unknown, value?: Buffer) => {
        if (settled) return;
        settled = true;
        clearTimeout(connectTimer);
        if (error === undefined) resolvePromise(value!);
        else rejectPromise(error);
      };
      const client = url.protocol === 'https:' ? https : http;
      const request = client.request(url, {
        method: 'GET',
        agent: false, // a fresh connection to the pinned address, never a pooled one
        lookup: pinnedLookup(target),
        headers: { accept: 'image/*', 'accept-encoding': 'identity', 'user-agent': USER_AGENT },
        signal,
      });
      const connectTimer = setTimeout(() => {
        const error = failed(row, `could not connect within ${options.connectTimeoutMs} ms`);
        settle(error);
        request.destroy(error);
      }, options.connectTimeoutMs);
      request.on('socket', (socket) => {
        socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (isServiceError(error)) return settle(error);
        if (signal.aborted) return settle(isServiceError(signal.reason) ? signal.reason : failed(row, `the download did not finish within ${options.timeoutMs} ms`));
        settle(failed(row, describeNetworkError(error)));
      });
      request.on('response', (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const fail = (error: ServiceError) => {
          settle(error);
          response.destroy();
          request.destroy();
        };
        if (status >= 300 && status < 400) {
          return fail(failed(row, `the server answered ${status} (a redirect to ${String(response.headers.location ?? '?').slice(0, 200)}); redirects are not followed`));
        }
        if (status !== 200) return fail(failed(row, `the server answered ${status}`));
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > options.maxBytes) return fail(imageTooLarge());
        if (Number.isFinite(declared) && declared > budget.remaining) return fail(budgetSpent());
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          if (settled) return;
          received += chunk.length;
          if (received > options.maxBytes) return fail(imageTooLarge());
          if (!budget.take(chunk.length)) return fail(budgetSpent());
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (settled) return;
          settle(undefined, Buffer.concat(chunks, received));
        });
        response.on('aborted', () => settle(failed(row, 'the server closed the connection before the image was complete')));
        response.on('error', (error) => request.emit('error', error));
      });
      request.end();
    });
  }

  return {
    async fetch(text, row, budget, clientSignal) {
      const url = checkImageUrl(text, row, options.policy);
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = clientSignal ? AbortSignal.any([timeout, clientSignal]) : timeout;
      const target = await addressOf(url, row, signal);
      if (signal.aborted) throw isServiceError(signal.reason) ? signal.reason : failed(row, `the download did not finish within ${options.timeoutMs} ms`);
      return download(url, target, row, budget, signal);
    },
  };
}
