/**
 * The result cache: the engine hands each operation's items to `through()` with the function
 * that computes some of them; the cache answers what it holds and computes only the rest.
 *
 * - Per item, not per request: a request of 8 images of which 6 were seen computes 2. Only the
 *   missing items reach `compute`, so only they are admitted, decoded, queued and run.
 * - Tiers: the in-process LRU, then Redis; a Redis hit is kept in memory too. A computed value
 *   goes to every tier.
 * - Single flight: an item being looked up or computed for one request is not computed again
 *   for another that arrives meanwhile; the second waits for the first (within its own
 *   deadline) and, should the first fail, computes the item itself.
 * - Identical answers: a value read back is the value computed, bit for bit (values.ts); a
 *   stored value that does not parse is a miss.
 * - Errors of `compute` (which sees only the missing items) name the rows of the whole request.
 */
import { ServiceError, isServiceError } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { ModelBundle } from '../../models/registry.js';
import type { Tracing } from '../../tracing/index.js';
import type { RequestContext } from '../context.js';
import type { Timings } from '../results.js';
import { type CachedOperation, type Content, itemKey, keyScope } from './keys.js';
import type { CacheStore, HitSource } from './store.js';
import type { ValueCodec } from './values.js';

/** One operation's items, and how to compute some of them. */
export interface ItemRequest<I, V> {
  readonly operation: CachedOperation;
  readonly model: ModelBundle;
  /** The options that change the result ('' when none). */
  readonly variant: string;
  readonly inputs: readonly I[];
  /** The bytes whose sha256 names an input (image file, id row, text). */
  readonly content: (input: I) => Content;
  readonly codec: ValueCodec<V>;
  /** Values of the given inputs (a subset, in order) and the timings of computing them. */
  readonly compute: (inputs: readonly I[]) => Promise<Computed<V>>;
}

export interface Computed<V> {
  readonly values: readonly V[];
  readonly timings: Timings;
}

/** How many of a request's items came from the cache. */
export interface CacheOutcome {
  readonly hits: number;
  readonly misses: number;
}

export interface Through<V> {
  readonly values: V[];
  /** Of the computing done for this request (zero when every item hit); waits for other requests' flights count as queue time. */
  readonly timings: Timings;
  /** undefined when caching is off. */
  readonly outcome: CacheOutcome | undefined;
}

/** What /v1/models and the start-up log say about caching. */
export interface CacheInfo {
  readonly enabled: boolean;
  /** Bound of the in-process cache; 0 when off. */
  readonly memoryBytes: number;
  /** Whether a Redis shared between replicas is configured. */
  readonly shared: boolean;
}

/** The engine's view of the cache: caching on (ResultCache) or off (NoCache). */
export interface ItemCache {
  readonly info: CacheInfo;
  through<I, V>(request: ItemRequest<I, V>, ctx: RequestContext): Promise<Through<V>>;
  close(): Promise<void>;
}

/** Caching off: every item is computed. */
export class NoCache implements ItemCache {
  readonly info: CacheInfo = { enabled: false, memoryBytes: 0, shared: false };

  async through<I, V>(request: ItemRequest<I, V>): Promise<Through<V>> {
    const computed = await request.compute(request.inputs);
    return { values: [...computed.values], timings: computed.timings, outcome: undefined };
  }

  async close(): Promise<void> {}
}

interface Flight {
  readonly promise: Promise<Uint8Array>;
  resolve(bytes: Uint8Array): void;
  reject(error: unknown): void;
}

function flight(): Flight {
  let resolve!: (bytes: Uint8Array) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<Uint8Array>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A flight nobody joined may fail: that is its owner's error, reported to its owner only.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Waits for `promise` unless the request ends first (its deadline, its client gone). */
function untilEnded<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * An error of `compute` over a subset, in the words of the whole request: `images[1]` of the
 * subset becomes `images[5]` when the subset's second item was the request's sixth.
 */
export function remapRow(error: unknown, rows: readonly number[]): unknown {
  if (!isServiceError(error)) return error;
  const position = error.extensions.position as { row?: unknown } | undefined;
  const row = position?.row;
  if (typeof row !== 'number' || rows[row] === undefined || rows[row] === row) return error;
  const original = rows[row]!;
  const message = error.message.replace(new RegExp(`^(\\w+)\\[${row}\\]`), `$1[${original}]`);
  return new ServiceError(error.code, message, {
    extensions: { ...error.extensions, position: { ...position, row: original } },
    ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    cause: error,
  });
}

export interface ResultCacheDeps {
  readonly metrics?: Metrics;
  readonly tracing?: Tracing;
}

const NO_WORK: Timings = { queueMs: 0, inferenceMs: 0 };

export class ResultCache implements ItemCache {
  readonly info: CacheInfo;
  private readonly stores: readonly CacheStore[];
  private readonly deps: ResultCacheDeps;
  private readonly flights = new Map<string, Flight>();

  /** @param stores tiers in lookup order (memory, then Redis); at least one */
  constructor(stores: readonly CacheStore[], info: Omit<CacheInfo, 'enabled'>, deps: ResultCacheDeps = {}) {
    if (stores.length === 0) throw new RangeError('a result cache needs at least one store');
    this.stores = stores;
    this.info = { enabled: true, ...info };
    this.deps = deps;
  }

  /** Items being looked up or computed now (single flight). */
  get inFlight(): number {
    return this.flights.size;
  }

  async through<I, V>(request: ItemRequest<I, V>, ctx: RequestContext): Promise<Through<V>> {
    const scope = keyScope(request.model, request.operation, request.variant);
    const keys = request.inputs.map((input) => itemKey(scope, request.content(input)));
    // Positions of each distinct key (an item repeated within a request is one item).
    const rowsOf = new Map<string, number[]>();
    keys.forEach((key, row) => {
      const rows = rowsOf.get(key);
      if (rows === undefined) rowsOf.set(key, [row]);
      else rows.push(row);
    });

    const values = new Array<V>(keys.length);
    const source = new Map<string, HitSource | 'computed'>();
    const fill = (key: string, value: V, from: HitSource | 'computed') => {
      for (const row of rowsOf.get(key)!) values[row] = value;
      source.set(key, from);
    };

    // Keys another request is looking up or computing: joined. The rest: this request's flights.
    const joined = new Map<string, Promise<Uint8Array>>();
    const owned = new Map<string, Flight>();
    for (const key of rowsOf.keys()) {
      const existing = this.flights.get(key);
      if (existing !== undefined) joined.set(key, existing.promise);
      else {
        const own = flight();
        this.flights.set(key, own);
        owned.set(key, own);
      }
    }
    const land = (key: string, bytes: Uint8Array) => {
      owned.get(key)!.resolve(bytes);
      this.flights.delete(key);
    };

    let timings = NO_WORK;
    try {
      let missing = await this.lookUp([...owned.keys()], request.codec, (key, value, bytes, from) => {
        fill(key, value, from);
        land(key, bytes);
      });
      if (missing.length > 0) {
        const computed = await this.compute(request, missing, rowsOf);
        missing.forEach((key, i) => {
          const value = computed.values[i]!;
          const bytes = this.store(key, value, request.codec);
          fill(key, value, 'computed');
          land(key, bytes);
        });
        timings = computed.timings;
        missing = [];
      }
    } finally {
      // Whatever this request still owns failed with it: those who joined compute it themselves.
      for (const [key, own] of owned) {
        if (this.flights.get(key) !== own) continue;
        own.reject(new Error('the request computing this item failed'));
        this.flights.delete(key);
      }
    }

    if (joined.size > 0) {
      const started = performance.now();
      const retry: string[] = [];
      await Promise.all(
        [...joined].map(async ([key, promise]) => {
          let bytes: Uint8Array;
          try {
            bytes = await untilEnded(promise, ctx.signal);
          } catch (error) {
            // This request's own end (deadline, client gone) is its answer; another's failure is not.
            if (ctx.signal.aborted) throw error;
            retry.push(key);
            return;
          }
          const value = this.decode(bytes, request.codec);
          if (value === undefined) retry.push(key);
          else fill(key, value, 'inflight');
        }),
      );
      const waitedMs = performance.now() - started;
      if (retry.length > 0) {
        const computed = await this.compute(request, retry, rowsOf);
        retry.forEach((key, i) => {
          const value = computed.values[i]!;
          this.store(key, value, request.codec);
          fill(key, value, 'computed');
        });
        timings = combine(timings, computed.timings);
      }
      timings = { ...timings, queueMs: Math.max(timings.queueMs, waitedMs) };
    }

    return { values, timings, outcome: this.count(request.operation, rowsOf, source) };
  }

  async close(): Promise<void> {
    await Promise.all(this.stores.map((store) => store.close()));
  }

  /** Looks the keys up tier by tier; reports each hit; returns the keys no tier holds. */
  private async lookUp<V>(
    keys: readonly string[],
    codec: ValueCodec<V>,
    hit: (key: string, value: V, bytes: Uint8Array, from: HitSource) => void,
  ): Promise<string[]> {
    let missing = [...keys];
    for (let tier = 0; tier < this.stores.length && missing.length > 0; tier++) {
      const store = this.stores[tier]!;
      const found = await store.get(missing);
      const still: string[] = [];
      const promoted = [];
      for (let i = 0; i < missing.length; i++) {
        const key = missing[i]!;
        const bytes = found[i];
        const value = bytes === undefined ? undefined : this.decode(bytes, codec);
        if (bytes === undefined || value === undefined) {
          still.push(key);
          continue;
        }
        hit(key, value, bytes, store.name);
        promoted.push({ key, value: bytes });
      }
      // A hit in a later tier is kept in the earlier ones.
      for (let earlier = 0; earlier < tier; earlier++) this.stores[earlier]!.set(promoted);
      missing = still;
    }
    return missing;
  }

  private async compute<I, V>(request: ItemRequest<I, V>, keys: readonly string[], rowsOf: ReadonlyMap<string, number[]>): Promise<Computed<V>> {
    const rows = keys.map((key) => rowsOf.get(key)![0]!);
    try {
      const computed = await request.compute(rows.map((row) => request.inputs[row]!));
      if (computed.values.length !== keys.length) throw new Error(`${request.operation}: ${computed.values.length} values computed for ${keys.length} items`);
      return computed;
    } catch (error) {
      throw remapRow(error, rows);
    }
  }

  private store<V>(key: string, value: V, codec: ValueCodec<V>): Uint8Array {
    const bytes = codec.encode(value);
    for (const store of this.stores) store.set([{ key, value: bytes }]);
    return bytes;
  }

  private decode<V>(bytes: Uint8Array, codec: ValueCodec<V>): V | undefined {
    try {
      return codec.decode(bytes);
    } catch {
      this.deps.metrics?.cacheCorrupt.inc();
      return undefined;
    }
  }

  private count(operation: CachedOperation, rowsOf: ReadonlyMap<string, number[]>, source: ReadonlyMap<string, HitSource | 'computed'>): CacheOutcome {
    let hits = 0;
    let misses = 0;
    for (const [key, rows] of rowsOf) {
      const from = source.get(key)!;
      if (from === 'computed') {
        misses += rows.length;
        this.deps.metrics?.cacheMisses.inc({ operation }, rows.length);
      } else {
        hits += rows.length;
        this.deps.metrics?.cacheHits.inc({ operation, source: from }, rows.length);
      }
    }
    this.deps.tracing?.annotate({ [`toklip.cache.${operation}.hits`]: hits, [`toklip.cache.${operation}.misses`]: misses });
    return { hits, misses };
  }
}

function combine(a: Timings, b: Timings): Timings {
  const pre = a.preprocessMs !== undefined || b.preprocessMs !== undefined ? { preprocessMs: (a.preprocessMs ?? 0) + (b.preprocessMs ?? 0) } : {};
  return { ...pre, queueMs: a.queueMs + b.queueMs, inferenceMs: a.inferenceMs + b.inferenceMs };
}
