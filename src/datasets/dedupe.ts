/**
 * Identical image bytes are computed once per run: results are kept by the sha256 of the
 * bytes in an LRU bounded by memory (lru-cache), and an image whose twin is still being
 * computed waits for that computation. The rows of both copies hold the same values; the
 * sha256 column shows which rows are copies.
 */
import { LRUCache } from 'lru-cache';

/** Bytes counted per result beyond its arrays (key, object headers). */
const ENTRY_OVERHEAD = 128;

/** Results by content; T: anything but null or undefined (lru-cache's bound on values). */
export class DuplicateResults<T extends {}> {
  private readonly pending = new Map<string, Promise<T>>();
  private readonly settled: LRUCache<string, T> | undefined;
  /** Images answered by a twin's result. */
  hits = 0;

  /** `maxBytes`: memory for settled results (0: no deduplication); `sizeOf`: the memory of one. */
  constructor(maxBytes: number, sizeOf: (value: T) => number) {
    this.settled = maxBytes > 0 ? new LRUCache<string, T>({ maxSize: maxBytes, sizeCalculation: (value) => sizeOf(value) + ENTRY_OVERHEAD }) : undefined;
  }

  /** The result for `sha256`, computing it with `compute` unless a twin's result is known or pending. */
  get(sha256: string, compute: () => Promise<T>): Promise<T> {
    const known = this.settled?.get(sha256);
    const twin = known !== undefined ? Promise.resolve(known) : this.pending.get(sha256);
    if (twin !== undefined) {
      this.hits++;
      return twin;
    }
    const result = compute();
    if (this.settled === undefined) return result;
    const settled = this.settled;
    this.pending.set(sha256, result);
    result.then(
      (value) => {
        this.pending.delete(sha256);
        settled.set(sha256, value);
      },
      // A failure that is not about the image (the run stops) is not remembered.
      () => this.pending.delete(sha256),
    );
    return result;
  }

  /** Results held or being computed. */
  get size(): number {
    return this.pending.size + (this.settled?.size ?? 0);
  }
}
