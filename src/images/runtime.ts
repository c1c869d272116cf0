/**
 * Process-wide settings of sharp/libvips for a service that decodes untrusted images.
 *
 * - Decoders: every libvips loader is blocked except the six accepted formats, so SVG, PDF,
 *   raw/CSV/matrix and the other loaders cannot run whatever the bytes claim to be. This is
 *   applied on first use by the decoder too (hardenDecoders), so it never depends on callers.
 * - Cache: off. libvips caches operations keyed by their inputs; a service sees each image
 *   once, so the cache would only hold untrusted pixels in memory.
 * - Threads: `sharp.concurrency(n)` is libvips' worker threads per image pipeline. Throughput
 *   comes from several images decoding at once (libuv thread pool, UV_THREADPOOL_SIZE, 4 by
 *   default, and the preprocessing workers), so one or two threads per pipeline is right for a
 *   server: more only adds contention. UV_THREADPOOL_SIZE is an environment variable read by
 *   libuv at its first use; set it in the launch environment (Dockerfile), not from code.
 */
import sharp from 'sharp';

const ALLOWED_LOADERS = [
  'VipsForeignLoadPngBuffer',
  'VipsForeignLoadJpegBuffer',
  'VipsForeignLoadWebpBuffer',
  'VipsForeignLoadNsgifBuffer',
  'VipsForeignLoadTiffBuffer',
  'VipsForeignLoadHeifBuffer',
];

let hardened = false;

/**
 * Blocks every libvips loader but the accepted ones (process-wide; idempotent per thread).
 * libvips keeps one block list for the whole process, and applying it (block all,
 * then unblock the accepted) briefly blocks every loader: a decode that another thread starts in
 * that window fails ("Input buffer has corrupt header"). So it runs once, on the thread that creates
 * the preprocessing pool and before its workers start; the workers adopt it (adoptHardenedDecoders).
 */
export function hardenDecoders(): void {
  if (hardened) return;
  sharp.block({ operation: ['VipsForeignLoad'] });
  sharp.unblock({ operation: ALLOWED_LOADERS });
  sharp.cache(false);
  hardened = true;
}

/** For a worker thread whose parent hardened the decoders before starting it. */
export function adoptHardenedDecoders(): void {
  hardened = true;
}

export interface ImageRuntimeOptions {
  /** libvips threads per image pipeline (sharp.concurrency). Default 1. */
  readonly threads?: number;
  /**
   * The thread that started this worker has already hardened the decoders of this process:
   * adopt that instead of re-applying it while other threads decode (see hardenDecoders).
   */
  readonly decodersHardenedByParent?: boolean;
}

export interface ImageRuntimeSettings {
  readonly threads: number;
  readonly cache: false;
  readonly simd: boolean;
  readonly libvips: string;
  readonly sharp: string;
}

/** Applies the settings above and returns what is in effect (for the start-up log). */
export function configureImageRuntime(options: ImageRuntimeOptions = {}): ImageRuntimeSettings {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new RangeError(`image threads must be an integer in 1..64, got ${threads}`);
  }
  if (options.decodersHardenedByParent) adoptHardenedDecoders();
  else hardenDecoders();
  sharp.concurrency(threads);
  return {
    threads: sharp.concurrency(),
    cache: false,
    simd: sharp.simd(),
    libvips: sharp.versions.vips,
    sharp: sharp.versions.sharp ?? 'unknown',
  };
}
