/**
 * Decoder output -> 8-bit pixels, the spec's mapping (section 2.6, LlamaGen):
 * uint8(clamp(127.5 * x + 128, 0, 255)) with a truncating cast, computed in float32 like the
 * reference. Pure and free of sharp, so the inference worker can run it next to the decoder
 * graph and hand back 4x fewer bytes.
 */

/** One decoder value -> pixel. NaN (a broken model) maps to 0. */
export function reconstructionValueToPixel(x: number): number {
  const v = Math.fround(Math.fround(127.5 * Math.fround(x)) + 128);
  if (!(v > 0)) return 0;
  if (v >= 255) return 255;
  return Math.trunc(v);
}

/** 3 x size x size CHW floats -> size x size x 3 HWC uint8. */
export function reconstructionToRgb(pixels: Float32Array, size: number): Uint8Array {
  const plane = size * size;
  if (!Number.isInteger(size) || size < 1 || pixels.length !== plane * 3) {
    throw new RangeError(`expected 3x${size}x${size} floats, got ${pixels.length}`);
  }
  const rgb = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const base = c * plane;
    for (let i = 0, p = c; i < plane; i++, p += 3) rgb[p] = reconstructionValueToPixel(pixels[base + i]!);
  }
  return rgb;
}
