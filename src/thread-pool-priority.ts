/**
 * Priority of the threads the event loop does not own. libuv's thread pool (where sharp decodes
 * and resizes every image, and where fs, dns.lookup, crypto and zlib run) is started by the
 * event loop itself while Node loads the service's modules, so on Linux its threads inherit the
 * event loop's niceness: under image load, four decode threads (and the libvips threads they
 * start) would compete with the event loop on equal terms, and its lag would grow. The worker
 * threads lower their own priority (src/thread-priority.ts) but cannot reach threads that
 * already exist, and no JavaScript ever runs on a pool thread to lower its own.
 *
 * lowerOtherThreads() lowers every thread of the process except the event loop (the pool, V8's
 * background compiler and GC helpers, and whatever else is running) to the given niceness, once
 * at start-up. Threads started later by a lowered thread inherit it; worker threads lower
 * themselves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** Niceness of each thread of this process, by thread id (Linux /proc; empty elsewhere). */
export function threadNiceness(): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // the fields after "pid (comm)"; comm may hold spaces, so split after its last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), Number(fields[16])); // field 19 of proc(5): nice
    } catch {
      // the thread exited between readdir and read
    }
  }
  return out;
}

export interface LoweredThreads {
  /** The niceness the other threads now have at least; undefined when nothing was done. */
  readonly nice: number | undefined;
  /** Threads whose priority this call lowered. */
  readonly lowered: number;
  /** Why nothing was done, when nothing was. */
  readonly reason?: string;
}

/**
 * Gives every thread but the calling one (the event loop: call it from the main thread) a
 * niceness of at least the caller's + `by` (at most 19). Linux only: there setpriority() on a
 * thread id changes that thread alone.
 */
export function lowerOtherThreads(by: number): LoweredThreads {
  if (!(by > 0)) return { nice: undefined, lowered: 0, reason: 'off (niceness 0)' };
  if (process.platform !== 'linux') return { nice: undefined, lowered: 0, reason: 'not Linux' };
  const target = Math.min(19, getPriority() + by);
  let lowered = 0;
  for (const [tid, nice] of threadNiceness()) {
    if (tid === process.pid || nice >= target) continue;
    try {
      setPriority(tid, target);
      lowered += 1;
    } catch {
      // the thread exited, or the platform refused: it keeps its priority
    }
  }
  return { nice: target, lowered };
}
