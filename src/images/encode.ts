/**
 * Decoder output -> image file. The float -> uint8 mapping is the spec's (section 2.6,
 * LlamaGen): uint8(clamp(127.5 * x + 128, 0, 255)) with a truncating cast, computed in
 * float32 like the reference; then sharp encodes.
 */
import sharp from 'sharp';
import { ServiceError } from '../errors.js';
import type { EncodedImage, ReconstructionFormat } from './types.js';

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

export const RECONSTRUCTION_MIME: Record<ReconstructionFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

/** Default quality of the lossy formats when the request names none. */
export const DEFAULT_QUALITY = 90;

export async function encodeReconstruction(
  pixels: Float32Array,
  size: number,
  format: ReconstructionFormat,
  quality: number = DEFAULT_QUALITY,
): Promise<EncodedImage> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new ServiceError('bad_request', `quality must be an integer from 1 to 100, got ${quality}.`);
  }
  const rgb = reconstructionToRgb(pixels, size);
  const image = sharp(rgb, { raw: { width: size, height: size, channels: 3 } });
  let data: Buffer;
  switch (format) {
    case 'png':
      data = await image.png().toBuffer();
      break;
    case 'jpeg':
      data = await image.jpeg({ quality }).toBuffer();
      break;
    case 'webp':
      data = await image.webp({ quality }).toBuffer();
      break;
    default:
      throw new ServiceError('bad_request', `unknown image format '${String(format)}'; use png, jpeg or webp.`);
  }
  return { mime: RECONSTRUCTION_MIME[format], data };
}
