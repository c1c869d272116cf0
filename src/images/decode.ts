/**
 * The only place that runs decoders. Two steps, so that nothing is decoded before the limits
 * are checked: readImageHeader() parses the header only (size, frames, orientation), then
 * decodeRegion() decodes exactly the part of the first frame the resampler reads, as 8-bit
 * sRGB RGB with EXIF orientation applied and alpha composited on white.
 */
import sharp, { type Metadata, type SharpOptions } from 'sharp';
import { ServiceError } from '../errors.js';
import { hardenDecoders } from './runtime.js';
import type { AcceptedImageFormat, ImageLimits, SourceImageInfo } from './types.js';

/** sharp's name for each accepted container ('heif' covers AVIF, checked by compression). */
const SHARP_FORMAT: Record<AcceptedImageFormat, string> = {
  png: 'png',
  jpeg: 'jpeg',
  webp: 'webp',
  gif: 'gif',
  tiff: 'tiff',
  avif: 'heif',
};

const FORMAT_LABEL: Record<AcceptedImageFormat, string> = {
  png: 'PNG',
  jpeg: 'JPEG',
  webp: 'WebP',
  gif: 'GIF',
  tiff: 'TIFF',
  avif: 'AVIF',
};

/**
 * Input options shared by both steps.
 * - failOn 'error': truncated data and decoder errors fail; warnings (e.g. a JPEG with
 *   extraneous bytes before a marker, which Pillow also opens) do not.
 * - ignoreIcc: Pillow, hence the official pipeline, ignores embedded ICC profiles; converting
 *   would move pixels away from what the model saw. CMYK is still converted to sRGB.
 * - pages 1 / page 0: first frame of animations and multi-page files.
 */
function inputOptions(limits: ImageLimits, autoOrient: boolean): SharpOptions {
  return {
    failOn: 'error',
    limitInputPixels: limits.maxInputPixels,
    ignoreIcc: true,
    autoOrient,
    pages: 1,
    page: 0,
    sequentialRead: true,
  };
}

/** First line of a libvips message, bounded, for a client-facing detail. */
function decoderMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  // libpng reports a bad chunk CRC as "Unknown error": say what it means.
  if (line === '' || /^unknown error$/i.test(line)) return 'corrupt data';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

function tooLarge(pixels: number, width: number, height: number, limits: ImageLimits): ServiceError {
  return new ServiceError(
    'image_too_large',
    `The image is ${width}x${height} (${pixels} pixels); the limit is ${limits.maxInputPixels} pixels.`,
    { extensions: { width, height, pixels, limit: limits.maxInputPixels } },
  );
}

function decodeFailure(format: AcceptedImageFormat, error: unknown, limits: ImageLimits): ServiceError {
  const message = decoderMessage(error);
  if (/exceeds pixel limit/i.test(message)) {
    return new ServiceError('image_too_large', `The image exceeds the limit of ${limits.maxInputPixels} pixels.`, {
      extensions: { limit: limits.maxInputPixels },
      cause: error,
    });
  }
  return new ServiceError('invalid_image', `The ${FORMAT_LABEL[format]} image could not be decoded: ${message}`, {
    cause: error,
  });
}

/** Reads the header (no pixel decoding), checks the container and the pixel limit. */
export async function readImageHeader(
  bytes: Uint8Array,
  format: AcceptedImageFormat,
  limits: ImageLimits,
): Promise<SourceImageInfo> {
  hardenDecoders();
  let meta: Metadata;
  try {
    // Header only: no limit here, so that an oversized image is reported with its size below.
    meta = await sharp(bytes, { ...inputOptions(limits, false), limitInputPixels: false }).metadata();
  } catch (error) {
    throw decodeFailure(format, error, limits);
  }
  // The decoder libvips picked must be the one the magic bytes named (polyglot defence).
  if (meta.format !== SHARP_FORMAT[format]) {
    throw new ServiceError(
      'invalid_image',
      `The data starts like ${FORMAT_LABEL[format]} but does not decode as ${FORMAT_LABEL[format]}.`,
    );
  }
  if (format === 'avif' && meta.compression !== 'av1') {
    throw new ServiceError(
      'unsupported_image_format',
      `This HEIF file holds a ${meta.compression ?? 'non-AV1'} image, not AV1 (AVIF); no HEVC decoder is available, convert it to JPEG, PNG, WebP or AVIF.`,
      { extensions: { format: 'heic' } },
    );
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  // libnsgif widens a GIF whose logical screen is 0 x N to its frame; Pillow, the reference, sees no pixels.
  const gifScreenEmpty = format === 'gif' && (bytes[6]! + bytes[7]! * 256 === 0 || bytes[8]! + bytes[9]! * 256 === 0);
  if (!(width >= 1 && height >= 1) || gifScreenEmpty) {
    const size = gifScreenEmpty ? `${bytes[6]! + bytes[7]! * 256}x${bytes[8]! + bytes[9]! * 256}` : `${width}x${height}`;
    throw new ServiceError('invalid_image', `The ${FORMAT_LABEL[format]} image has no pixels (${size}).`);
  }
  const pixels = width * height;
  if (pixels > limits.maxInputPixels) throw tooLarge(pixels, width, height, limits);
  const orientation = meta.orientation !== undefined && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1;
  const swapped = orientation >= 5;
  return {
    format,
    width,
    height,
    orientation,
    orientedWidth: swapped ? height : width,
    orientedHeight: swapped ? width : height,
    pages: meta.pages ?? 1,
    hasAlpha: meta.hasAlpha ?? false,
    space: meta.space ?? 'unknown',
    depth: meta.depth ?? 'unknown',
  };
}

export interface Region {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Decodes one region of the first frame, in the oriented frame, as 8-bit sRGB RGB (HWC):
 * EXIF orientation applied, alpha composited on white, grey/palette/16-bit/CMYK expanded.
 */
export async function decodeRegion(
  bytes: Uint8Array,
  format: AcceptedImageFormat,
  region: Region,
  limits: ImageLimits,
): Promise<Uint8Array> {
  hardenDecoders();
  let data: Buffer;
  let channels: number;
  let width: number;
  let height: number;
  try {
    const result = await sharp(bytes, inputOptions(limits, true))
      .extract(region)
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    data = result.data;
    ({ channels, width, height } = result.info);
  } catch (error) {
    throw decodeFailure(format, error, limits);
  }
  if (width !== region.width || height !== region.height || channels !== 3) {
    throw new Error(
      `decoder returned ${width}x${height}x${channels}, expected ${region.width}x${region.height}x3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
