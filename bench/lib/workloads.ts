/**
 * Request streams for the cache benchmark (bench/cache.ts): each request carries one JPEG, and
 * whether its bytes were sent before is decided by the workload.
 *
 * - `repeat90`: every tenth request carries an image never sent before, the other nine one of a
 *   small set of popular images (chat turns resending their picture, duplicates in a dataset).
 * - `unique`: no image is ever sent twice.
 *
 * Distinct images are distinct files: a base picture with a JPEG comment segment holding a
 * counter (the bytes, hence the cache key, differ; the pixels, hence the work, do not).
 */

/** The JPEG with a COM segment right after its SOI marker holding `tag`. */
export function tagJpeg(jpeg: Buffer, tag: string): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('not a JPEG (no SOI marker)');
  const text = Buffer.from(tag, 'latin1');
  if (text.length > 65533) throw new Error('tag too long for one COM segment');
  const segment = Buffer.alloc(4 + text.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(text.length + 2, 2);
  text.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

export const WORKLOADS = ['repeat90', 'unique'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface Workload {
  readonly name: WorkloadName;
  /** The body of request number `sequence` (0, 1, 2, ... in sending order). */
  body(sequence: number): Buffer;
  /** Whether request `sequence` carries an image sent before (once the popular ones were each sent once). */
  repeats(sequence: number): boolean;
}

export interface WorkloadOptions {
  /** Base pictures the images are made of (cycled). */
  readonly bases: readonly Buffer[];
  /** Popular images of `repeat90`. */
  readonly popular: number;
  /** Makes the files of one run differ from another's (e.g. a run against a Redis that outlives it). */
  readonly salt: string;
}

export function workload(name: WorkloadName, options: WorkloadOptions): Workload {
  const { bases, popular, salt } = options;
  if (bases.length === 0 || popular < 1) throw new Error('a workload needs base pictures and popular images');
  const unique = (sequence: number) => tagJpeg(bases[sequence % bases.length]!, `${salt}:unique:${sequence}`);
  if (name === 'unique') return { name, body: unique, repeats: () => false };
  const favourites = Array.from({ length: popular }, (_, k) => tagJpeg(bases[k % bases.length]!, `${salt}:popular:${k}`));
  const fresh = (sequence: number) => sequence % 10 === 9;
  return {
    name,
    body: (sequence) => (fresh(sequence) ? unique(sequence) : favourites[(sequence * 7919) % popular]!),
    repeats: (sequence) => !fresh(sequence),
  };
}
