/**
 * The access-control and outbound-fetch settings: comma lists parsed and checked. Messages name
 * the variable and never quote an API key.
 */
import ipaddr from 'ipaddr.js';
import { type SecurityConfig, type Settings, envName } from './schema.js';

/** RFC 6750 b64token: the characters a Bearer credential may hold. */
export const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
export const MIN_API_KEY_LENGTH = 16;

const HOST_NAME = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function apiKeyProblems(keys: readonly string[]): string[] {
  const variable = envName('apiKeys');
  const problems: string[] = [];
  keys.forEach((key, i) => {
    const which = `key ${i + 1} of ${keys.length}`;
    if (key.length < MIN_API_KEY_LENGTH) problems.push(`${variable}: ${which} has ${key.length} characters; at least ${MIN_API_KEY_LENGTH} are needed`);
    if (!BEARER_TOKEN.test(key)) {
      problems.push(`${variable}: ${which} holds characters a Bearer token cannot carry (allowed: A-Z a-z 0-9 - . _ ~ + / and trailing =)`);
    }
  });
  if (new Set(keys).size !== keys.length) problems.push(`${variable}: a key is listed twice`);
  return problems;
}

function originProblems(origins: readonly string[]): string[] {
  const variable = envName('corsOrigins');
  if (origins.includes('*')) return origins.length === 1 ? [] : [`${variable}: * allows any origin and cannot be combined with a list`];
  return origins.flatMap((origin) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    return parsed !== undefined && parsed.origin === origin && /^https?:$/.test(parsed.protocol)
      ? []
      : [`${variable}: '${origin}' is not an origin (scheme://host[:port], no path or trailing slash)`];
  });
}

function hostProblems(hosts: readonly string[]): string[] {
  const variable = envName('urlAllowedHosts');
  return hosts.flatMap((host) =>
    host === '*' || HOST_NAME.test(host) || ipaddr.isValid(host) ? [] : [`${variable}: '${host}' is not a host name, *.domain or *`],
  );
}

function proxyProblems(proxies: readonly string[]): string[] {
  const variable = envName('trustProxy');
  return proxies.flatMap((proxy) => {
    const valid = proxy.includes('/') ? (() => {
      try {
        ipaddr.parseCIDR(proxy);
        return true;
      } catch {
        return false;
      }
    })() : ipaddr.isValid(proxy);
    return valid ? [] : [`${variable}: '${proxy}' is not an IP address or CIDR`];
  });
}

export function parseSecurity(settings: Settings): { security: SecurityConfig; problems: string[] } {
  const apiKeys = list(settings.apiKeys);
  const origins = list(settings.corsOrigins);
  const trustProxy = list(settings.trustProxy);
  const allowedHosts = list(settings.urlAllowedHosts.toLowerCase()).map((h) => h.replace(/\.$/, ''));
  const problems = [...apiKeyProblems(apiKeys), ...originProblems(origins), ...proxyProblems(trustProxy), ...hostProblems(allowedHosts)];
  if (settings.allowUrls && allowedHosts.length === 0) {
    problems.push(`${envName('allowUrls')}=true needs ${envName('urlAllowedHosts')} (the hosts image URLs may name, or * for any public host)`);
  }
  if (settings.urlConnectTimeoutMs > settings.urlTimeoutMs) {
    problems.push(`${envName('urlConnectTimeoutMs')}=${settings.urlConnectTimeoutMs} exceeds ${envName('urlTimeoutMs')}=${settings.urlTimeoutMs}`);
  }
  const security: SecurityConfig = Object.freeze({
    apiKeys: Object.freeze(apiKeys),
    corsOrigins: origins.length === 0 ? undefined : origins.includes('*') ? '*' : Object.freeze(origins),
    rateLimit: settings.rateLimitMax > 0 ? Object.freeze({ max: settings.rateLimitMax, windowMs: settings.rateLimitWindowMs }) : undefined,
    trustProxy: Object.freeze(trustProxy),
    remoteImages: settings.allowUrls
      ? Object.freeze({
          allowedHosts: Object.freeze(allowedHosts),
          maxBytes: Math.floor(settings.urlMaxMb * 1024 * 1024),
          connectTimeoutMs: settings.urlConnectTimeoutMs,
          timeoutMs: settings.urlTimeoutMs,
        })
      : undefined,
  });
  return { security, problems };
}
