/**
 * The engine's result cache (README "Result cache", docs/deploy.md): content-addressed,
 * per item, in process (TOKLIP_CACHE_MB) and shared in Redis (TOKLIP_CACHE_REDIS_URL).
 */
import type { Logger } from 'pino';
import type { CacheConfig } from '../../config/schema.js';
import type { Metrics } from '../../metrics.js';
import type { Tracing } from '../../tracing/index.js';
import { MemoryStore } from './memory-store.js';
import { RedisStore, redactRedisUrl } from './redis-store.js';
import { type ItemCache, NoCache, ResultCache } from './result-cache.js';
import type { CacheStore } from './store.js';

export { CACHED_OPERATIONS, CACHE_FORMAT, type CachedOperation, idsContent } from './keys.js';
export { type CacheInfo, type CacheOutcome, type Computed, type ItemCache, type ItemRequest, NoCache, ResultCache, type Through } from './result-cache.js';
export type { CacheStore, HitSource } from './store.js';
export { ENCODED_FILE, ENCODED_IMAGE, SEMANTIC_OUTPUT, TEXT_EMBEDDING, TOKENIZED_IMAGE } from './item-codecs.js';

export interface CacheDeps {
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly tracing?: Tracing;
}

/** The cache the configuration asks for: memory and/or Redis tiers, or none (every item computed). */
export function createResultCache(config: CacheConfig, deps: CacheDeps): ItemCache {
  const stores: CacheStore[] = [];
  if (config.memoryBytes > 0) stores.push(new MemoryStore({ maxBytes: config.memoryBytes, ...(deps.metrics ? { metrics: deps.metrics } : {}) }));
  const redis = config.redis;
  if (redis !== undefined) {
    stores.push(new RedisStore({ ...redis, log: deps.log, ...(deps.metrics ? { metrics: deps.metrics } : {}) }));
  }
  const log = deps.log.child({ component: 'cache' });
  if (stores.length === 0) {
    log.info('result cache off (TOKLIP_CACHE_MB=0, no TOKLIP_CACHE_REDIS_URL)');
    return new NoCache();
  }
  log.info(
    { memoryBytes: config.memoryBytes, redis: redis === undefined ? 'off' : redactRedisUrl(redis.url), ttlSeconds: redis?.ttlSeconds, prefix: redis?.prefix },
    'result cache on',
  );
  return new ResultCache(stores, { memoryBytes: config.memoryBytes, shared: redis !== undefined }, { ...(deps.metrics ? { metrics: deps.metrics } : {}), ...(deps.tracing ? { tracing: deps.tracing } : {}) });
}
