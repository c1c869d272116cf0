/**
 * Pillow's antialiased bicubic resampling (Image.resize(..., BICUBIC), a = -0.5), reproduced
 * bit for bit: the same coefficient computation in float64, the same 22-bit fixed-point
 * weights, the same horizontal-then-vertical order with a clipped uint8 intermediate.
 *
 * libvips (sharp) cannot give this: its resize box-shrinks first for reductions of 4x or more,
 * runs the vertical pass first (so overshoots clip differently) and quantises kernel
 * positions; measured against Pillow it is off by up to 7/255 on hard edges. Computing only
 * the centre-crop window also means the resized image (5 million pixels long for a 1x20000
 * input) never exists: memory and time follow the crop, not the resized size.
 */

import { RESAMPLE_KERNELS_WASM } from './resample-kernels-wasm.js';

/** Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2. */
const PRECISION_BITS = 22;
const ROUNDING = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

/** Pillow's bicubic filter, a = -0.5, support 2. */
function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * Resampling weights along one axis for the output indices [from, from + count) of a resize
 * from inSize to outSize. `identity` (inSize === outSize) means Pillow skips this pass.
 */
export interface AxisKernel {
  readonly identity: boolean;
  /** Per output index: first input index and number of taps. */
  readonly first: Int32Array;
  readonly taps: Int32Array;
  /** Fixed-point weights, `stride` per output index. */
  readonly weights: Int32Array;
  readonly stride: number;
  /** Input indices read: [start, end). */
  readonly start: number;
  readonly end: number;
}

export function bicubicAxis(inSize: number, outSize: number, from: number, count: number): AxisKernel {
  if (!(from >= 0 && count >= 1 && from + count <= outSize)) {
    throw new RangeError(`window [${from}, ${from + count}) outside 0..${outSize}`);
  }
  const first = new Int32Array(count);
  const taps = new Int32Array(count);
  if (inSize === outSize) {
    for (let j = 0; j < count; j++) {
      first[j] = from + j;
      taps[j] = 1;
    }
    return { identity: true, first, taps, weights: new Int32Array(count).fill(ONE), stride: 1, start: from, end: from + count };
  }
  // Pillow precompute_coeffs(), box = (0, inSize).
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(count * stride);
  const raw = new Float64Array(stride);
  const inverse = 1 / filterScale;
  let start = inSize;
  let end = 0;
  for (let j = 0; j < count; j++) {
    const center = (from + j + 0.5) * scale;
    // C casts truncate toward zero.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      const w = bicubic((x + lo - center + 0.5) * inverse);
      raw[x] = w;
      sum += w;
    }
    // normalize_coeffs_8bpc(): round half away from zero into 22-bit fixed point.
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? raw[x]! / sum : raw[x]!;
      weights[j * stride + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[j] = lo;
    taps[j] = n;
    start = Math.min(start, lo);
    end = Math.max(end, lo + n);
  }
  return { identity: false, first, taps, weights, stride, start, end };
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resamples an RGB (3 channels, HWC) region to the output window described by the two
 * kernels. The region holds input columns [x.start, x.end) and rows [y.start, y.end).
 * Both passes run in WebAssembly SIMD (resample-kernels.wat, the same integer arithmetic,
 * about three times faster) when the runtime has it and the buffers fit SIMD_MAX_BYTES;
 * otherwise, and when an axis is an identity, in the scalar code below.
 */
export function resampleRgb(region: Uint8Array, regionWidth: number, x: AxisKernel, y: AxisKernel): Uint8Array {
  checkRegion(region, regionWidth, x, y);
  if (!x.identity && !y.identity) {
    const kernels = simdKernels();
    const out = kernels && resampleSimd(kernels, region, regionWidth, x, y);
    if (out) return out;
  }
  return resampleScalar(region, regionWidth, x, y);
}

function checkRegion(region: Uint8Array, regionWidth: number, x: AxisKernel, y: AxisKernel): void {
  if (regionWidth !== x.end - x.start || region.length !== regionWidth * (y.end - y.start) * 3) {
    throw new RangeError('region does not match the kernels');
  }
}

// Node's WebAssembly global, which this project's TypeScript lib (ES2022, no DOM) leaves out.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module);
    readonly exports: unknown;
  }
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
}

interface SimdKernels {
  readonly memory: WebAssembly.Memory;
  horizontal(...args: number[]): void;
  vertical(...args: number[]): void;
}

/** undefined: not loaded yet; null: this runtime cannot run it. */
let kernels: SimdKernels | null | undefined;

function simdKernels(): SimdKernels | null {
  if (kernels === undefined) {
    try {
      const module = new WebAssembly.Module(Buffer.from(RESAMPLE_KERNELS_WASM, 'base64'));
      kernels = new WebAssembly.Instance(module).exports as unknown as SimdKernels;
    } catch {
      kernels = null;
    }
  }
  return kernels;
}

/** Whether resampleRgb can use the SIMD kernels here (tests, start-up log). */
export function simdResampleAvailable(): boolean {
  return simdKernels() !== null;
}

/**
 * Most linear memory the kernels may use. Memory never shrinks, and every image worker keeps
 * its own: larger crops (beyond about 3000x3000 px) take the scalar path instead.
 */
const SIMD_MAX_BYTES = 48 * 1024 * 1024;
/** The kernels read and write up to 15 bytes past a buffer's end. */
const SLACK = 16;

function aligned(n: number): number {
  return (n + SLACK + 15) & ~15;
}

function resampleSimd(k: SimdKernels, region: Uint8Array, regionWidth: number, x: AxisKernel, y: AxisKernel): Uint8Array | undefined {
  const outWidth = x.first.length;
  const outHeight = y.first.length;
  const rows = y.end - y.start;
  const midStride = outWidth * 3;
  const layout = [region.length, rows * midStride, outHeight * midStride, x.first.length * 4, x.taps.length * 4, x.weights.length * 4, y.first.length * 4, y.taps.length * 4, y.weights.length * 4];
  const offsets: number[] = [];
  let total = 0;
  for (const bytes of layout) {
    offsets.push(total);
    total += aligned(bytes);
  }
  if (total > SIMD_MAX_BYTES) return undefined;
  const memory = k.memory;
  if (memory.buffer.byteLength < total) memory.grow(Math.ceil((total - memory.buffer.byteLength) / 65536));
  const [regionAt, midAt, outAt, xFirstAt, xTapsAt, xWeightsAt, yFirstAt, yTapsAt, yWeightsAt] = offsets as [number, number, number, number, number, number, number, number, number];
  const heap = memory.buffer;
  new Uint8Array(heap, regionAt, region.length).set(region);
  new Int32Array(heap, xFirstAt, x.first.length).set(x.first);
  new Int32Array(heap, xTapsAt, x.taps.length).set(x.taps);
  new Int32Array(heap, xWeightsAt, x.weights.length).set(x.weights);
  new Int32Array(heap, yFirstAt, y.first.length).set(y.first);
  new Int32Array(heap, yTapsAt, y.taps.length).set(y.taps);
  new Int32Array(heap, yWeightsAt, y.weights.length).set(y.weights);
  k.horizontal(regionAt, regionWidth * 3, rows, outWidth, xFirstAt, xTapsAt, xWeightsAt, x.stride, x.start, midAt, midStride);
  k.vertical(midAt, midStride, outHeight, yFirstAt, yTapsAt, yWeightsAt, y.stride, y.start, outAt);
  return new Uint8Array(heap, outAt, outHeight * midStride).slice();
}

/** The scalar passes; exported as the reference the SIMD kernels are tested against. */
export function resampleScalar(region: Uint8Array, regionWidth: number, x: AxisKernel, y: AxisKernel): Uint8Array {
  checkRegion(region, regionWidth, x, y);
  const outWidth = x.first.length;
  const outHeight = y.first.length;
  const rows = y.end - y.start;
  const inStride = regionWidth * 3;
  const midStride = outWidth * 3;

  const xFirst = x.first;
  const xTaps = x.taps;
  const xWeights = x.weights;
  const xStride = x.stride;
  const xStart = x.start;
  const yFirst = y.first;
  const yTaps = y.taps;
  const yWeights = y.weights;
  const yStride = y.stride;

  // Horizontal pass over every row the vertical pass reads, four rows at a time so that each
  // weight load serves twelve multiply-adds. Int32 arithmetic (Math.imul, | 0) as Pillow's C ints.
  const mid = new Uint8Array(rows * midStride);
  if (x.identity) {
    for (let r = 0; r < rows; r++) {
      const from = r * inStride + (xFirst[0]! - xStart) * 3;
      mid.set(region.subarray(from, from + midStride), r * midStride);
    }
  } else {
    const s1 = inStride;
    const s2 = 2 * inStride;
    const s3 = 3 * inStride;
    let r = 0;
    for (; r + 3 < rows; r += 4) {
      const rowIn = r * inStride;
      let q = r * midStride;
      for (let j = 0; j < outWidth; j++, q += 3) {
        let p = rowIn + (xFirst[j]! - xStart) * 3;
        const n = xTaps[j]!;
        let k = j * xStride;
        let r0 = ROUNDING, g0 = ROUNDING, b0 = ROUNDING;
        let r1 = ROUNDING, g1 = ROUNDING, b1 = ROUNDING;
        let r2 = ROUNDING, g2 = ROUNDING, b2 = ROUNDING;
        let r3 = ROUNDING, g3 = ROUNDING, b3 = ROUNDING;
        for (const end = k + n; k < end; k++, p += 3) {
          const w = xWeights[k]!;
          r0 = (r0 + Math.imul(region[p]!, w)) | 0;
          g0 = (g0 + Math.imul(region[p + 1]!, w)) | 0;
          b0 = (b0 + Math.imul(region[p + 2]!, w)) | 0;
          r1 = (r1 + Math.imul(region[p + s1]!, w)) | 0;
          g1 = (g1 + Math.imul(region[p + s1 + 1]!, w)) | 0;
          b1 = (b1 + Math.imul(region[p + s1 + 2]!, w)) | 0;
          r2 = (r2 + Math.imul(region[p + s2]!, w)) | 0;
          g2 = (g2 + Math.imul(region[p + s2 + 1]!, w)) | 0;
          b2 = (b2 + Math.imul(region[p + s2 + 2]!, w)) | 0;
          r3 = (r3 + Math.imul(region[p + s3]!, w)) | 0;
          g3 = (g3 + Math.imul(region[p + s3 + 1]!, w)) | 0;
          b3 = (b3 + Math.imul(region[p + s3 + 2]!, w)) | 0;
        }
        mid[q] = clip8(r0);
        mid[q + 1] = clip8(g0);
        mid[q + 2] = clip8(b0);
        const q1 = q + midStride;
        mid[q1] = clip8(r1);
        mid[q1 + 1] = clip8(g1);
        mid[q1 + 2] = clip8(b1);
        const q2 = q1 + midStride;
        mid[q2] = clip8(r2);
        mid[q2 + 1] = clip8(g2);
        mid[q2 + 2] = clip8(b2);
        const q3 = q2 + midStride;
        mid[q3] = clip8(r3);
        mid[q3 + 1] = clip8(g3);
        mid[q3 + 2] = clip8(b3);
      }
    }
    for (; r < rows; r++) {
      const rowIn = r * inStride;
      let q = r * midStride;
      for (let j = 0; j < outWidth; j++, q += 3) {
        let p = rowIn + (xFirst[j]! - xStart) * 3;
        const n = xTaps[j]!;
        let k = j * xStride;
        let r0 = ROUNDING, g0 = ROUNDING, b0 = ROUNDING;
        for (const end = k + n; k < end; k++, p += 3) {
          const w = xWeights[k]!;
          r0 = (r0 + Math.imul(region[p]!, w)) | 0;
          g0 = (g0 + Math.imul(region[p + 1]!, w)) | 0;
          b0 = (b0 + Math.imul(region[p + 2]!, w)) | 0;
        }
        mid[q] = clip8(r0);
        mid[q + 1] = clip8(g0);
        mid[q + 2] = clip8(b0);
      }
    }
  }

  // Vertical pass: for each output row, four output values at a time, every tap summed in
  // registers (no accumulator array), reading the intermediate rows down a column.
  const out = new Uint8Array(outHeight * midStride);
  for (let i = 0; i < outHeight; i++) {
    const firstRow = yFirst[i]! - y.start;
    const rowOut = i * midStride;
    const base = firstRow * midStride;
    if (y.identity) {
      out.set(mid.subarray(base, base + midStride), rowOut);
      continue;
    }
    const n = yTaps[i]!;
    const k0 = i * yStride;
    const kEnd = k0 + n;
    let c = 0;
    for (; c + 3 < midStride; c += 4) {
      let a0 = ROUNDING, a1 = ROUNDING, a2 = ROUNDING, a3 = ROUNDING;
      let p = base + c;
      for (let k = k0; k < kEnd; k++, p += midStride) {
        const w = yWeights[k]!;
        a0 = (a0 + Math.imul(mid[p]!, w)) | 0;
        a1 = (a1 + Math.imul(mid[p + 1]!, w)) | 0;
        a2 = (a2 + Math.imul(mid[p + 2]!, w)) | 0;
        a3 = (a3 + Math.imul(mid[p + 3]!, w)) | 0;
      }
      out[rowOut + c] = clip8(a0);
      out[rowOut + c + 1] = clip8(a1);
      out[rowOut + c + 2] = clip8(a2);
      out[rowOut + c + 3] = clip8(a3);
    }
    for (; c < midStride; c++) {
      let a0 = ROUNDING;
      let p = base + c;
      for (let k = k0; k < kEnd; k++, p += midStride) a0 = (a0 + Math.imul(mid[p]!, yWeights[k]!)) | 0;
      out[rowOut + c] = clip8(a0);
    }
  }
  return out;
}
