/**
 * Where cached values live: the one small interface of the in-process LRU (memory-store.ts)
 * and Redis (redis-store.ts). A store never fails a request: reads that cannot be served are
 * misses, writes that cannot be made are dropped (each store counts and reports its own
 * failures).
 */

/** Where a hit came from: a store, or an identical item computed at the same moment. */
export type HitSource = 'memory' | 'redis' | 'inflight';

export interface CacheStore {
  readonly name: Exclude<HitSource, 'inflight'>;
  /** The value of each key, undefined where absent or unreadable; never rejects. */
  get(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  /** Stores values (without waiting for a remote store); never throws. */
  set(entries: readonly CacheEntry[]): void;
  close(): Promise<void>;
}

export interface CacheEntry {
  readonly key: string;
  readonly value: Uint8Array;
}
