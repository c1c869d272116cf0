/**
 * The shared tier: Redis (ioredis), shared by every replica. Keys are the cache keys under a
 * prefix (TOKLIP_CACHE_REDIS_PREFIX); values expire after TOKLIP_CACHE_REDIS_TTL_SECONDS.
 *
 * Redis slow, down or full never fails a request and never delays it beyond
 * TOKLIP_CACHE_REDIS_TIMEOUT_MS: a read that has not answered by then is a miss (the item is
 * computed), a write is never waited for. Commands are not queued while the connection is down
 * (they fail at once and the client reconnects in the background), and after a timeout Redis is
 * left alone for a second, so that a paused server costs one timeout per second, not one per
 * request. Every failure is counted in toklip_cache_redis_errors_total{operation, reason} and
 * logged at most once per interval.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics.js';
import { FailureLog } from './failure-log.js';
import type { CacheEntry, CacheStore } from './store.js';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL (may hold credentials: never logged). */
  readonly url: string;
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly metrics?: Metrics;
}

/** After a timeout, Redis is not asked again for this long. */
export const REDIS_BACKOFF_MS = 1000;
/** At most one warning per interval about Redis failures. */
export const REDIS_LOG_INTERVAL_MS = 30_000;

export type RedisFailure = 'timeout' | 'error' | 'unavailable';

class TimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The URL without its credentials, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '' || parsed.username !== '') {
      parsed.username = '';
      parsed.password = '';
    }
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export class RedisStore implements CacheStore {
  readonly name = 'redis' as const;
  private readonly client: Redis;
  private readonly options: RedisStoreOptions;
  private readonly failures: FailureLog;
  private backoffUntil = 0;

  constructor(options: RedisStoreOptions) {
    this.options = options;
    const log = options.log.child({ component: 'cache', store: 'redis', url: redactRedisUrl(options.url) });
    this.failures = new FailureLog(log, 'Redis cache failing: requests compute their results without it', REDIS_LOG_INTERVAL_MS);
    this.client = new Redis(options.url, {
      // Fail commands at once while disconnected instead of queueing them; reconnect in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1000, options.timeoutMs),
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
      // Commands of one event-loop turn go out in one round trip.
      enableAutoPipelining: true,
    });
    this.client.on('error', (error: Error) => this.failures.report('connection', error));
    this.client.on('ready', () => log.info('Redis cache connected'));
  }

  /** Reads of a request: misses where Redis does not answer in time. */
  async get(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const none = () => keys.map(() => undefined);
    if (keys.length === 0) return [];
    if (!this.usable('read')) return none();
    try {
      const values = await withTimeout(
        this.client.mgetBuffer(keys.map((key) => this.redisKey(key))),
        this.options.timeoutMs,
      );
      // Copies: the client's buffers may be views of larger allocations, and the memory tier keeps what it gets.
      return values.map((value) => (value === null ? undefined : new Uint8Array(value)));
    } catch (error) {
      this.failed('read', error);
      return none();
    }
  }

  /** Writes in the background (SET with expiry); failures are counted, never waited for. */
  set(entries: readonly CacheEntry[]): void {
    if (entries.length === 0 || !this.usable('write')) return;
    for (const { key, value } of entries) {
      this.client.set(this.redisKey(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength), 'EX', this.options.ttlSeconds).catch((error: unknown) => this.failed('write', error));
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  private redisKey(key: string): string {
    return `${this.options.prefix}:${key}`;
  }

  /** False (counted as unavailable) while disconnected or backing off after a timeout. */
  private usable(operation: 'read' | 'write'): boolean {
    if (this.client.status === 'ready' && Date.now() >= this.backoffUntil) return true;
    this.options.metrics?.cacheRedisErrors.inc({ operation, reason: 'unavailable' });
    return false;
  }

  private failed(operation: 'read' | 'write', error: unknown): void {
    const reason: RedisFailure = error instanceof TimeoutError || /timed? ?out/i.test(String((error as Error)?.message)) ? 'timeout' : 'error';
    if (reason === 'timeout') this.backoffUntil = Date.now() + REDIS_BACKOFF_MS;
    this.options.metrics?.cacheRedisErrors.inc({ operation, reason });
    this.failures.report(`${operation} ${reason}`, error);
  }
}
