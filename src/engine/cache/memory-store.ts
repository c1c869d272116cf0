/**
 * The in-process tier: an LRU (lru-cache) bounded in bytes (TOKLIP_CACHE_MB). An entry costs
 * its value's bytes plus its key's; the least recently used entries are evicted to stay under
 * the bound, and a value larger than the whole bound is not kept.
 */
import { LRUCache } from 'lru-cache';
import type { Metrics } from '../../metrics.js';
import type { CacheEntry, CacheStore } from './store.js';

export interface MemoryStoreOptions {
  readonly maxBytes: number;
  readonly metrics?: Metrics;
}

/** Bytes an entry costs: its value, its key (UTF-16 in V8 at worst) and the map's own record. */
export function entryBytes(key: string, value: Uint8Array): number {
  return value.byteLength + 2 * key.length + ENTRY_OVERHEAD_BYTES;
}

/** lru-cache's per-entry bookkeeping (indices, the map entry, the value's object), approximated. */
export const ENTRY_OVERHEAD_BYTES = 128;

export class MemoryStore implements CacheStore {
  readonly name = 'memory' as const;
  private readonly lru: LRUCache<string, Uint8Array>;
  private readonly metrics: Metrics | undefined;

  constructor(options: MemoryStoreOptions) {
    if (!(Number.isInteger(options.maxBytes) && options.maxBytes > 0)) throw new RangeError(`maxBytes must be a positive integer, got ${options.maxBytes}`);
    this.metrics = options.metrics;
    this.lru = new LRUCache<string, Uint8Array>({
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) => entryBytes(key, value),
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.metrics?.cacheEvictions.inc();
      },
    });
  }

  /** Bytes held (entries as entryBytes counts them). */
  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  async get(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return keys.map((key) => this.lru.get(key));
  }

  set(entries: readonly CacheEntry[]): void {
    for (const { key, value } of entries) this.lru.set(key, value);
    this.metrics?.cacheBytes.set(this.lru.calculatedSize);
    this.metrics?.cacheEntries.set(this.lru.size);
  }

  async close(): Promise<void> {
    this.lru.clear();
    this.metrics?.cacheBytes.set(0);
    this.metrics?.cacheEntries.set(0);
  }
}
