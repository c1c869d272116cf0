/**
 * glibc malloc settings for image decoding. sharp hands each decoded image back as a buffer
 * that libvips allocated; the buffer is freed only when the worker's garbage collector gets to
 * it. With glibc's defaults, buffers over 128 KiB are mmap'd and unmapped when freed, so nearly
 * every decode writes into fresh pages and pays a page fault per 4 KiB: on the 2-core build
 * VM, 430 faults took a 1024x768 JPEG's region decode from about 5 ms to about 12 ms.
 * Allocating blocks up to 32 MiB from the heap and keeping up to 256 MiB of freed memory lets
 * decodes reuse pages that are already mapped (docs/benchmarks.md, preprocessing).
 *
 * glibc reads GLIBC_TUNABLES once at process start, so this belongs in the launch environment:
 * the Dockerfile, `npm start` and the benchmarks set it (test/deploy checks they agree).
 */
export const GLIBC_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';

export interface AllocatorStatus {
  /** glibc's version when the process runs on glibc. */
  readonly glibc?: string;
  /** Whether GLIBC_TUNABLES holds the settings above (only meaningful on glibc). */
  readonly tuned: boolean;
}

export function allocatorStatus(env: NodeJS.ProcessEnv = process.env): AllocatorStatus {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const glibc = header?.glibcVersionRuntime;
  const tunables = (env.GLIBC_TUNABLES ?? '').split(':');
  const tuned = GLIBC_MALLOC_TUNABLES.split(':').every((t) => tunables.includes(t));
  return glibc === undefined ? { tuned } : { glibc, tuned };
}

/** Adds the tunables to a child process's environment unless it sets GLIBC_TUNABLES itself. */
export function withMallocTunables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES === undefined ? { ...env, GLIBC_TUNABLES: GLIBC_MALLOC_TUNABLES } : env;
}
