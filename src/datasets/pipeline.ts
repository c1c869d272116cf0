/**
 * An ordered window: items are started as they are read, at most `window` at once, and handed
 * to the sink in the order they were read, whatever order their work finishes in. The window
 * spans unit boundaries, so the mapper stays busy while one shard's last images finish and
 * the next shard's first ones start; memory holds at most `window` items.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';

export interface OrderedWindowOptions {
  readonly window: number;
  /** Stops reading; items in flight are still awaited (their failures are then ignored). */
  readonly signal?: AbortSignal;
}

export async function runOrdered<I, O>(
  source: AsyncIterable<I>,
  work: (item: I) => Promise<O>,
  sink: (item: I, output: O) => Promise<void>,
  options: OrderedWindowOptions,
): Promise<void> {
  if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError(`window must be a positive integer, got ${options.window}`);
  // Each item in flight may listen to the signal (its request context): not a leak.
  if (options.signal !== undefined) setMaxListeners(Math.max(getMaxListeners(options.signal), 2 * options.window + 16), options.signal);
  const inFlight: { item: I; output: Promise<O> }[] = [];
  const drainOne = async () => {
    const head = inFlight.shift()!;
    await sink(head.item, await head.output);
  };
  try {
    for await (const item of source) {
      options.signal?.throwIfAborted();
      const output = work(item);
      // Handled when it reaches the head; until then, a rejection must not count as unhandled.
      output.catch(() => undefined);
      inFlight.push({ item, output });
      while (inFlight.length >= options.window) await drainOne();
    }
    while (inFlight.length > 0) {
      options.signal?.throwIfAborted();
      await drainOne();
    }
  } finally {
    // On failure: let the work already started settle before the caller closes what it uses.
    await Promise.allSettled(inFlight.map((entry) => entry.output));
  }
}
