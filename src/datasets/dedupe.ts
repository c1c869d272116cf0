/**
 * Identical image bytes are computed once per run: results are kept by the sha256 of the
 * bytes, in a map bounded by memory (oldest results dropped first), and an image whose twin is
 * still being computed waits for that computation. The rows of both copies hold the same
 * values; the sha256 column shows which rows are copies.
 */

interface Entry<T> {
  readonly result: Promise<T>;
  bytes: number;
}

export class ResultCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private bytes = 0;
  hits = 0;

  /** `maxBytes`: memory for settled results; `sizeOf`: the memory of one. */
  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (value: T) => number,
  ) {}

  /** The result for `sha256`, computing it with `compute` unless a twin's result is known or pending. */
  get(sha256: string, compute: () => Promise<T>): Promise<T> {
    const known = this.entries.get(sha256);
    if (known !== undefined) {
      this.hits++;
      return known.result;
    }
    const result = compute();
    const entry: Entry<T> = { result, bytes: 0 };
    if (this.maxBytes <= 0) return result;
    this.entries.set(sha256, entry);
    result.then(
      (value) => {
        if (this.entries.get(sha256) !== entry) return;
        entry.bytes = this.sizeOf(value) + 128;
        this.bytes += entry.bytes;
        this.evict();
      },
      // A failure that is not about the image (the run stops) is not remembered.
      () => {
        if (this.entries.get(sha256) === entry) this.entries.delete(sha256);
      },
    );
    return result;
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) return;
      if (entry.bytes === 0) continue; // still pending
      this.entries.delete(key);
      this.bytes -= entry.bytes;
    }
  }
}
