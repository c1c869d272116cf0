/**
 * Container detection from magic bytes, before any decoder sees the data. The declared
 * content type is never trusted: a file is what its first bytes say (a polyglot is decoded as
 * the container its header names, and must then decode as exactly that).
 */
import { ServiceError } from '../errors.js';
import type { AcceptedImageFormat, ImageFormat } from './types.js';

export const ACCEPTED_FORMATS: readonly AcceptedImageFormat[] = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif'];

const ACCEPTED_LIST = 'PNG, JPEG, WebP, GIF, TIFF or AVIF';

/** Why a recognised container is refused. */
const REFUSALS: Partial<Record<ImageFormat, string>> = {
  svg: 'SVG is refused: vector images are never rasterised here (scripts, external references and unbounded rendering cost); send a PNG or JPEG rendering',
  xml: `Markup (XML/HTML) is not an image; send ${ACCEPTED_LIST}`,
  heic: 'HEIC is not supported: no HEVC decoder is available in this service; convert it to JPEG, PNG, WebP or AVIF',
  heif: 'HEIF without an AV1 image (not AVIF) is not supported: no HEVC decoder is available in this service; convert it to JPEG, PNG, WebP or AVIF',
  bmp: `BMP is not supported; send ${ACCEPTED_LIST}`,
  ico: `ICO is not supported; send ${ACCEPTED_LIST}`,
  pdf: `PDF is not an image and is never rendered here; send ${ACCEPTED_LIST}`,
  jxl: `JPEG XL is not supported; send ${ACCEPTED_LIST}`,
  jp2: `JPEG 2000 is not supported; send ${ACCEPTED_LIST}`,
  psd: `PSD is not supported; send ${ACCEPTED_LIST}`,
  pnm: `PNM/PPM is not supported; send ${ACCEPTED_LIST}`,
};

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  for (let i = 0; i < signature.length; i++) if (bytes[offset + i] !== signature[i]) return false;
  return true;
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));
}

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);

/** ISO base media file (HEIF family): classify by major and compatible brands of 'ftyp'. */
function sniffFtyp(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const boxSize = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const end = Math.min(boxSize >= 16 ? boxSize : 16, bytes.length, 4096);
  const brands = [ascii(bytes, 8, 12)];
  for (let p = 16; p + 4 <= end; p += 4) brands.push(ascii(bytes, p, p + 4));
  const major = brands[0]!;
  if (AVIF_BRANDS.has(major)) return 'avif';
  if (HEIC_BRANDS.has(major)) return 'heic';
  if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
  if (brands.some((b) => HEIC_BRANDS.has(b))) return 'heic';
  if (major === 'mif1' || major === 'msf1' || brands.includes('mif1')) return 'heif';
  return undefined;
}

/** Text markup: SVG or other XML, after an optional byte-order mark and whitespace. */
function sniffMarkup(bytes: Uint8Array): ImageFormat | undefined {
  let head: string;
  if (startsWith(bytes, [0xfe, 0xff]) || startsWith(bytes, [0xff, 0xfe])) {
    head = new TextDecoder(bytes[0] === 0xfe ? 'utf-16be' : 'utf-16le').decode(bytes.subarray(2, 8192));
  } else {
    head = new TextDecoder('utf-8').decode(bytes.subarray(startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0, 4096));
  }
  const trimmed = head.trimStart();
  if (!trimmed.startsWith('<')) return undefined;
  return /<svg[\s>/:]/i.test(head) ? 'svg' : 'xml';
}

/** The container named by the first bytes, or undefined when none is recognised. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  const ftyp = sniffFtyp(bytes);
  if (ftyp) return ftyp;
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length >= 14) return 'bmp';
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) || startsWith(bytes, [0x00, 0x00, 0x02, 0x00])) return 'ico';
  if (ascii(bytes, 0, 5) === '%PDF-') return 'pdf';
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'jxl';
  if (startsWith(bytes, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) return 'jp2';
  if (ascii(bytes, 0, 4) === '8BPS') return 'psd';
  if (bytes.length >= 3 && bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x37 && /\s/.test(ascii(bytes, 2, 3))) {
    return 'pnm';
  }
  return sniffMarkup(bytes);
}

export function isAcceptedFormat(format: ImageFormat): format is AcceptedImageFormat {
  return (ACCEPTED_FORMATS as readonly string[]).includes(format);
}

/**
 * Decides accept/refuse before decoding: the accepted format, or a ServiceError
 * (invalid_image for empty or unrecognised data, unsupported_image_format with the reason for
 * recognised containers this service refuses).
 */
export function detectAcceptedFormat(bytes: Uint8Array): AcceptedImageFormat {
  if (bytes.length === 0) {
    throw new ServiceError('invalid_image', 'The image is empty (0 bytes).');
  }
  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    throw new ServiceError(
      'invalid_image',
      `The data is not an image in an accepted format (${ACCEPTED_LIST}): its first bytes match no known image header.`,
    );
  }
  if (!isAcceptedFormat(format)) {
    throw new ServiceError('unsupported_image_format', REFUSALS[format] ?? `${format} is not supported; send ${ACCEPTED_LIST}`, {
      extensions: { format },
    });
  }
  return format;
}
