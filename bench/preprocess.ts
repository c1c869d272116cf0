/**
 * Per-image cost of preprocessing: decode (sharp: header + region decode), resample (Pillow-
 * exact bicubic + crop), normalise (normalizeInto), for JPEG and PNG at 256, 1024 and 4000 px
 * and R = 256 and 384. Single-image latency on one thread; then throughput of the worker pool.
 *
 *   node --import tsx bench/preprocess.ts [--iterations 20] [--pool-threads 2]
 */
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeRegion, readImageHeader } from '../src/images/decode.js';
import { detectAcceptedFormat } from '../src/images/formats.js';
import { planResizeCrop } from '../src/images/geometry.js';
import {
  configureImageRuntime,
  createImagePreprocessor,
  DEFAULT_IMAGE_LIMITS,
  normalizeInto,
  type PreprocessSpec,
} from '../src/images/index.js';
import { bicubicAxis, resampleRgb } from '../src/images/resample.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '20' },
    'pool-threads': { type: 'string', default: '2' },
    'vips-threads': { type: 'string', default: '1' },
  },
});
const iterations = Number(values.iterations);
const runtime = configureImageRuntime({ threads: Number(values['vips-threads']) });

/** A photo-like test picture (gradients, edges, noise) of the given width, 4:3. */
async function picture(width: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const height = Math.round((width * 3) / 4);
  const raw = Buffer.alloc(width * height * 3);
  let seed = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = (seed >>> 24) / 32 - 4;
      const i = (y * width + x) * 3;
      raw[i] = 128 + 90 * Math.sin(x / (width / 7)) + noise;
      raw[i + 1] = ((x * 255) / width + ((y >> 5) % 2) * 40 + noise) & 0xff;
      raw[i + 2] = 128 + 100 * Math.cos((x + y) / (width / 11)) + noise;
    }
  }
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer();
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
  for (let i = 0; i < iterations + 2; i++) {
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
    if (i < 2) continue; // warm-up
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

console.log(`sharp ${runtime.sharp}, libvips ${runtime.libvips}, vips threads ${runtime.threads}, ${iterations} iterations, median ms per image (best: fastest total)`);
console.log('format  input       R    decode  resample  normalise   total    best');
const inputs: Array<[string, Buffer, number]> = [];
for (const format of ['jpeg', 'png'] as const) {
  for (const width of [256, 1024, 4000]) inputs.push([format, await picture(width, format), width]);
}
for (const [format, bytes, width] of inputs) {
  for (const size of [256, 384]) {
    const m = await measure(bytes, size);
    const dims = `${width}x${Math.round((width * 3) / 4)}`;
    console.log(
      `${format.padEnd(6)}  ${dims.padEnd(10)}  ${String(size).padEnd(3)}  ${m.decode.toFixed(1).padStart(6)}  ${m.resample.toFixed(1).padStart(8)}  ${m.normalize.toFixed(2).padStart(9)}  ${m.total.toFixed(1).padStart(6)}  ${m.best.toFixed(1).padStart(6)}`,
    );
  }
}

const threads = Number(values['pool-threads']);
const pool = createImagePreprocessor({ threads, vipsThreads: Number(values['vips-threads']) });
const spec: PreprocessSpec = { size: 256, resize: 'shortest', interpolation: 'bicubic', crop: 'center' };
const jpeg1024 = inputs.find(([f, , w]) => f === 'jpeg' && w === 1024)![1];
await Promise.all(Array.from({ length: threads * 2 }, () => pool.preprocess(jpeg1024, spec)));
const count = iterations * threads * 2;
const start = performance.now();
await Promise.all(Array.from({ length: count }, () => pool.preprocess(jpeg1024, spec)));
const elapsed = performance.now() - start;
console.log(`pool (${threads} threads): ${count} x jpeg 1024x768 at R=256 in ${elapsed.toFixed(0)} ms = ${((count * 1000) / elapsed).toFixed(1)} images/s`);
await pool.close();
