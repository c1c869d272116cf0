/**
 * uint8 RGB (HWC) -> float32 CHW with (x/255 - mean)/std, written straight into a batch
 * tensor. Each step is rounded to float32 as torchvision's ToTensor + Normalize do in
 * float32, so the values equal the official ones exactly; a 256-entry table per channel makes
 * it one lookup per value. Pure and synchronous: the inference worker calls it while it
 * assembles a batch, off the event loop.
 */

function channelTable(mean: number, std: number): Float32Array {
  const table = new Float32Array(256);
  const m = Math.fround(mean);
  const s = Math.fround(std);
  for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  return table;
}

/**
 * Writes 3 x size x size floats at out[offset ...]: channel planes R, G, B.
 * `rgb` holds size*size*3 bytes, HWC.
 */
export function normalizeInto(
  rgb: Uint8Array,
  size: number,
  mean: readonly number[],
  std: readonly number[],
  out: Float32Array,
  offset: number,
): void {
  const plane = size * size;
  if (rgb.length !== plane * 3) throw new RangeError(`rgb has ${rgb.length} bytes, expected ${plane * 3}`);
  if (mean.length !== 3 || std.length !== 3) throw new RangeError('mean and std need 3 values');
  if (!Number.isInteger(offset) || offset < 0 || offset + plane * 3 > out.length) {
    throw new RangeError(`offset ${offset} + ${plane * 3} exceeds the output (${out.length})`);
  }
  for (let c = 0; c < 3; c++) {
    if (!(std[c]! !== 0 && Number.isFinite(std[c]!) && Number.isFinite(mean[c]!))) {
      throw new RangeError(`invalid mean/std for channel ${c}`);
    }
    const table = channelTable(mean[c]!, std[c]!);
    const base = offset + c * plane;
    for (let i = 0, p = c; i < plane; i++, p += 3) out[base + i] = table[rgb[p]!]!;
  }
}
