/**
 * Image URLs a client may name (TOKLIP_ALLOW_URLS): parsed with the WHATWG URL parser, https
 * only, no credentials, the default port, and a host on the allow-list. The address the host
 * resolves to is checked separately (address-policy.ts) when it is fetched.
 */
import { ServiceError } from '../../errors.js';

export interface UrlPolicy {
  /** Lower-case host names; '*.example.com' matches any sub-domain of example.com; '*' any host. */
  readonly allowedHosts: readonly string[];
  /** Test-only: accept http: URLs and any port (tests serve images from a local http server). */
  readonly unsafeAllowHttp?: boolean;
}

function refuse(row: number, reason: string): ServiceError {
  return new ServiceError('url_not_allowed', `images[${row}]: ${reason}`, { extensions: { position: { row } } });
}

/** host matches an allow-list entry: exact name, '*.suffix' (a sub-domain, not the apex), or '*'. */
export function hostAllowed(host: string, allowedHosts: readonly string[]): boolean {
  return allowedHosts.some((entry) => entry === '*' || entry === host || (entry.startsWith('*.') && host.endsWith(entry.slice(1))));
}

/** The URL to fetch, or a 422 url_not_allowed naming the rule it breaks. */
export function checkImageUrl(text: string, row: number, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse(row, 'is not a valid URL');
  }
  const schemes = policy.unsafeAllowHttp ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) throw refuse(row, `scheme '${url.protocol.slice(0, -1)}' is not allowed; image URLs must be https`);
  if (url.username !== '' || url.password !== '') throw refuse(row, 'URLs with credentials are not allowed');
  if (url.port !== '' && !policy.unsafeAllowHttp) throw refuse(row, `port ${url.port} is not allowed; image URLs use the default https port`);
  // WHATWG URL lower-cases the host and turns IDNs into punycode; a trailing dot is the same host.
  const host = url.hostname.replace(/\.$/, '');
  if (!hostAllowed(host.replace(/^\[|\]$/g, ''), policy.allowedHosts)) throw refuse(row, `host '${host}' is not on this server's allow-list (TOKLIP_URL_ALLOWED_HOSTS)`);
  return url;
}
