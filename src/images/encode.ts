/** Reconstructed pixels -> PNG / JPEG / WebP file (sharp, on libuv threads). */
import sharp from 'sharp';
import { ServiceError } from '../errors.js';
import type { EncodedImage, ReconstructionFormat } from './types.js';

export const RECONSTRUCTION_MIME: Record<ReconstructionFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

/** Default quality of the lossy formats when the request names none. */
export const DEFAULT_QUALITY = 90;

/** size x size x 3 HWC uint8 (the inference worker's reconstructionToRgb output) -> file. */
export async function encodeRgb(
  rgb: Uint8Array,
  size: number,
  format: ReconstructionFormat,
  quality: number = DEFAULT_QUALITY,
): Promise<EncodedImage> {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new ServiceError('bad_request', `quality must be an integer from 1 to 100, got ${quality}.`);
  }
  if (!Number.isInteger(size) || size < 1 || rgb.length !== size * size * 3) {
    throw new RangeError(`expected ${size}x${size}x3 bytes, got ${rgb.length}`);
  }
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
