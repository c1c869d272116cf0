import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const host = { cpuCount: 2, cwd: '/srv/app' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, [], host);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail('expected a ConfigError');
}

describe('security settings', () => {
  it('default to open access, CORS off, no rate limit, no image URLs', () => {
    const { security } = loadConfig({}, [], host);
    assert.deepEqual(security, { apiKeys: [], corsOrigins: undefined, rateLimit: undefined, trustProxy: [], remoteImages: undefined });
    assert.ok(Object.isFrozen(security));
  });

  it('parse lists, trimming and lower-casing hosts', () => {
    const { security } = loadConfig(
      {
        TOKLIP_API_KEYS: ' key-one-0123456789abcdef , key-two-0123456789abcdef== ',
        TOKLIP_CORS_ORIGINS: 'https://app.example.com, http://localhost:3000',
        TOKLIP_RATE_LIMIT_MAX: '100',
        TOKLIP_RATE_LIMIT_WINDOW_MS: '1000',
        TOKLIP_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1',
        TOKLIP_ALLOW_URLS: 'true',
        TOKLIP_URL_ALLOWED_HOSTS: 'Images.Example.com., *.cdn.example.org',
        TOKLIP_URL_MAX_MB: '2',
      },
      [],
      host,
    );
    assert.deepEqual(security.apiKeys, ['key-one-0123456789abcdef', 'key-two-0123456789abcdef==']);
    assert.deepEqual(security.corsOrigins, ['https://app.example.com', 'http://localhost:3000']);
    assert.deepEqual(security.rateLimit, { max: 100, windowMs: 1000 });
    assert.deepEqual(security.trustProxy, ['10.0.0.0/8', '127.0.0.1']);
    assert.deepEqual(security.remoteImages, { allowedHosts: ['images.example.com', '*.cdn.example.org'], maxBytes: 2 * 2 ** 20, connectTimeoutMs: 3000, timeoutMs: 10000 });
    assert.equal(loadConfig({ TOKLIP_CORS_ORIGINS: '*' }, [], host).security.corsOrigins, '*');
  });

  it('report every bad value, naming the variable and never quoting an API key', () => {
    const secret = 'short-secret';
    const problems = problemsOf({
      TOKLIP_API_KEYS: `${secret},has space in it 0123456789,dup-key-0123456789abc,dup-key-0123456789abc`,
      TOKLIP_CORS_ORIGINS: 'https://app.example.com/path,*',
      TOKLIP_TRUST_PROXY: '10.0.0.0/99',
      TOKLIP_ALLOW_URLS: 'true',
      TOKLIP_URL_CONNECT_TIMEOUT_MS: '20000',
      TOKLIP_URL_TIMEOUT_MS: '1000',
    });
    assert.deepEqual(problems, [
      'TOKLIP_API_KEYS: key 1 of 4 has 12 characters; at least 16 are needed',
      'TOKLIP_API_KEYS: key 2 of 4 holds characters a Bearer token cannot carry (allowed: A-Z a-z 0-9 - . _ ~ + / and trailing =)',
      'TOKLIP_API_KEYS: a key is listed twice',
      'TOKLIP_CORS_ORIGINS: * allows any origin and cannot be combined with a list',
      "TOKLIP_TRUST_PROXY: '10.0.0.0/99' is not an IP address or CIDR",
      'TOKLIP_ALLOW_URLS=true needs TOKLIP_URL_ALLOWED_HOSTS (the hosts image URLs may name, or * for any public host)',
      'TOKLIP_URL_CONNECT_TIMEOUT_MS=20000 exceeds TOKLIP_URL_TIMEOUT_MS=1000',
    ]);
    assert.ok(!problems.join('\n').includes(secret));
    assert.deepEqual(problemsOf({ TOKLIP_CORS_ORIGINS: 'https://app.example.com/' }), [
      "TOKLIP_CORS_ORIGINS: 'https://app.example.com/' is not an origin (scheme://host[:port], no path or trailing slash)",
    ]);
    assert.deepEqual(problemsOf({ TOKLIP_URL_ALLOWED_HOSTS: 'images.example.com/path' }), [
      "TOKLIP_URL_ALLOWED_HOSTS: 'images.example.com/path' is not a host name, *.domain or *",
    ]);
    assert.deepEqual(problemsOf({ TOKLIP_RATE_LIMIT_WINDOW_MS: '10' }), ["TOKLIP_RATE_LIMIT_WINDOW_MS='10': must be >= 1000"]);
  });
});
