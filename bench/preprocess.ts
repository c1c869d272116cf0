/**
 * (4) Per-image cost of preprocessing: decode (sharp: header + region decode), resample (Pillow-
 * exact bicubic + crop), normalise (normalizeInto), for JPEG and PNG at 256, 1024 and 4000 px
 * and R = 256 and 384. Single-image latency on one thread; then throughput of the worker pool.
 * Prints a table and writes preprocess.json under --out.
 *
 *   npm run bench:preprocess -- [--iterations 20] [--pool-threads 2] [--out bench/results]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, Run, formatTable } from './lib/common.js';
import { picture } from './lib/images.js';
import { decodeRegion, readImageHeader } from '../src/images/decode.js';
import { detectAcceptedFormat } from '../src/images/formats.js';
import { planResizeCrop } from '../src/images/geometry.js';
import {
  configureImageRuntime,
  createImagePreprocessor,
  DEFAULT_IMAGE_LIMITS,
  type PreprocessSpec,
} from '../src/images/index.js';
import { normalizeInto } from '../src/inference/codecs/normalize.js';
import { bicubicAxis, resampleRgb } from '../src/images/resample.js';
import { type AllocatorStatus, allocatorStatus } from '../src/engine/allocator.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '20' },
    // A service decodes image after image: measure the steady state, after the allocator holds
    // the pages a decode needs (src/engine/allocator.ts), not the first images of a process.
    warmup: { type: 'string', default: '30' },
    'pool-threads': { type: 'string', default: '2' },
    'vips-threads': { type: 'string', default: '1' },
    out: { type: 'string', default: DEFAULT_OUT },
  },
});
const iterations = Number(values.iterations);
const warmup = Number(values.warmup);
const allocator = allocatorStatus();
const runtime = configureImageRuntime({ threads: Number(values['vips-threads']) });
const run = new Run<PreprocessResults>('preprocess', {
  iterations,
  warmup,
  poolThreads: Number(values['pool-threads']),
  vipsThreads: Number(values['vips-threads']),
});

export interface PreprocessPoint {
  readonly format: 'jpeg' | 'png';
  readonly width: number;
  readonly height: number;
  /** Model input size R. */
  readonly size: number;
  /** Medians over the iterations, milliseconds per image. */
  readonly decodeMs: number;
  readonly resampleMs: number;
  readonly normalizeMs: number;
  readonly totalMs: number;
  /** Fastest total. */
  readonly bestMs: number;
}

export interface PreprocessResults {
  readonly sharp: string;
  readonly libvips: string;
  readonly vipsThreads: number;
  readonly iterations: number;
  /** Images decoded before timing starts, per point. */
  readonly warmup?: number;
  /** glibc and whether GLIBC_TUNABLES held the service's malloc settings. */
  readonly allocator?: AllocatorStatus;
  readonly points: readonly PreprocessPoint[];
  readonly pool: { readonly threads: number; readonly images: number; readonly ms: number; readonly imagesPerSecond: number };
}

function min(values: number[]): number {
  return Math.min(...values);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function measure(bytes: Buffer, size: number) {
  const times = { decode: [] as number[], resample: [] as number[], normalize: [] as number[] };
  const out = new Float32Array(3 * size * size);
  for (let i = 0; i < iterations + warmup; i++) {
    const t0 = performance.now();
    const format = detectAcceptedFormat(bytes);
    const header = await readImageHeader(bytes, format, DEFAULT_IMAGE_LIMITS);
    const plan = planResizeCrop(header.orientedWidth, header.orientedHeight, size);
    const x = bicubicAxis(header.orientedWidth, plan.resizedWidth, plan.left, size);
    const y = bicubicAxis(header.orientedHeight, plan.resizedHeight, plan.top, size);
    const region = { left: x.start, top: y.start, width: x.end - x.start, height: y.end - y.start };
    const pixels = await decodeRegion(bytes, format, region, DEFAULT_IMAGE_LIMITS);
    const t1 = performance.now();
    const rgb = resampleRgb(pixels, region.width, x, y);
    const t2 = performance.now();
    normalizeInto(rgb, size, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], out, 0);
    const t3 = performance.now();
    if (i < warmup) continue;
    times.decode.push(t1 - t0);
    times.resample.push(t2 - t1);
    times.normalize.push(t3 - t2);
  }
  const totals = times.decode.map((d, i) => d + times.resample[i]! + times.normalize[i]!);
  return {
    decode: median(times.decode),
    resample: median(times.resample),
    normalize: median(times.normalize),
    total: median(totals),
    best: min(totals),
  };
}

console.log(
  `sharp ${runtime.sharp}, libvips ${runtime.libvips}, vips threads ${runtime.threads}, ${warmup} warm-up + ${iterations} timed images per point, ` +
    `malloc ${allocator.glibc === undefined ? 'not glibc' : `glibc ${allocator.glibc}${allocator.tuned ? ' with' : ' WITHOUT'} the service's GLIBC_TUNABLES`}, median ms per image (best: fastest total)`,
);
const inputs: Array<['jpeg' | 'png', Buffer, number]> = [];
for (const format of ['jpeg', 'png'] as const) {
  for (const width of [256, 1024, 4000]) inputs.push([format, await picture(width, format), width]);
}
const points: PreprocessPoint[] = [];
for (const [format, bytes, width] of inputs) {
  for (const size of [256, 384]) {
    const m = await measure(bytes, size);
    points.push({
      format,
      width,
      height: Math.round((width * 3) / 4),
      size,
      decodeMs: m.decode,
      resampleMs: m.resample,
      normalizeMs: m.normalize,
      totalMs: m.total,
      bestMs: m.best,
    });
  }
}
console.log(
  formatTable(
    ['format', 'input', 'R', 'decode', 'resample', 'normalise', 'total', 'best'],
    points.map((p) => [p.format, `${p.width}x${p.height}`, p.size, p.decodeMs, p.resampleMs, p.normalizeMs, p.totalMs, p.bestMs]),
  ),
);

const threads = Number(values['pool-threads']);
const pool = createImagePreprocessor({ threads, vipsThreads: Number(values['vips-threads']) });
const spec: PreprocessSpec = { size: 256, resize: 'shortest', interpolation: 'bicubic', crop: 'center' };
const jpeg1024 = inputs.find(([f, , w]) => f === 'jpeg' && w === 1024)![1];
await Promise.all(Array.from({ length: Math.max(threads * 2, warmup) }, () => pool.preprocess(jpeg1024, spec)));
const count = iterations * threads * 2;
const start = performance.now();
await Promise.all(Array.from({ length: count }, () => pool.preprocess(jpeg1024, spec)));
const elapsed = performance.now() - start;
console.log(`pool (${threads} threads): ${count} x jpeg 1024x768 at R=256 in ${elapsed.toFixed(0)} ms = ${((count * 1000) / elapsed).toFixed(1)} images/s`);
await pool.close();
run.finish(
  {
    sharp: runtime.sharp,
    libvips: runtime.libvips,
    vipsThreads: runtime.threads,
    iterations,
    warmup,
    allocator,
    points,
    pool: { threads, images: count, ms: elapsed, imagesPerSecond: (count * 1000) / elapsed },
  },
  values.out,
);
