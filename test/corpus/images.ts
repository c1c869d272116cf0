/**
 * Hostile and unusual image files for the corpus, each with the answer the service must give.
 * Built deterministically: hand-written bytes (PNG chunks, patched headers), sharp encodings of
 * a fixed gradient, and the committed image fixtures. Nothing random but a seeded PRNG.
 */
import { readFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import type { Expect } from './types.js';

export interface ImageItem {
  readonly name: string;
  readonly bytes: Buffer;
  /** Content-Type of raw bodies and multipart parts: what a client would claim (never trusted). */
  readonly declaredType: string;
  readonly expect: Expect;
  /** Where a form answers differently (an empty image is a schema error in JSON). */
  readonly byForm?: Partial<Record<ImageForm, Expect>>;
}

export type ImageForm = 'json' | 'multipart' | 'raw';

const FIXTURES = new URL('../fixtures/images/inputs/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES));

const OK: Expect = { status: 200 };
const invalid = (format: string): Expect => ({
  status: 422,
  code: 'invalid_image',
  detail: new RegExp(`images\\[0\\]: The ${format} image could not be decoded: `),
});
const unrecognised: Expect = { status: 422, code: 'invalid_image', detail: /images\[0\]: The data is not an image in an accepted format/ };
const refused = (reason: RegExp): Expect => ({ status: 415, code: 'unsupported_image_format', detail: reason });
const tooLarge = (width: number, height: number): Expect => ({
  status: 413,
  code: 'image_too_large',
  detail: new RegExp(`images\\[0\\]: The image is ${width}x${height} \\(${width * height} pixels\\); the limit is 50000000 pixels`),
});

/** Seeded PRNG (mulberry32): the corpus is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(length: number, seed: number): Buffer {
  const next = prng(seed);
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

/** One PNG chunk (length, type, data, CRC): for hand-made and deliberately broken PNGs. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, bitDepth: number, colourType: number): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(width, 0);
  data.writeUInt32BE(height, 4);
  data.set([bitDepth, colourType, 0, 0, 0], 8);
  return pngChunk('IHDR', data);
}

/** A valid 1-bit grey PNG, all black: 20000 x 20000 deflates to ~50 kB (a decompression bomb). */
function bitPng(width: number, height: number): Buffer {
  const row = Math.ceil(width / 8) + 1;
  const idat = deflateSync(Buffer.alloc(row * height), { level: 9 });
  return Buffer.concat([PNG_SIGNATURE, ihdr(width, height, 1, 0), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A fixed RGB gradient, so that every encoding below is reproducible. */
function gradient(width: number, height: number): Sharp {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = Math.floor((x * 255) / width);
      raw[i + 1] = Math.floor((y * 255) / height);
      raw[i + 2] = (x * y) % 256;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

const half = (bytes: Buffer) => bytes.subarray(0, Math.floor(bytes.length / 2));

/** Index of the first image descriptor (0x2C) of a GIF, skipping the colour table and extensions. */
function gifImageDescriptor(gif: Buffer): number {
  const flags = gif[10]!;
  let p = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  while (gif[p] === 0x21) {
    p += 2;
    while (gif[p]! !== 0) p += gif[p]! + 1;
    p += 1;
  }
  if (gif[p] !== 0x2c) throw new Error('no GIF image descriptor');
  return p;
}

function gifWithSize(gif: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(gif);
  out.writeUInt16LE(width, 6);
  out.writeUInt16LE(height, 8);
  const d = gifImageDescriptor(out);
  out.writeUInt16LE(width, d + 5);
  out.writeUInt16LE(height, d + 7);
  return out;
}

function jpegWithSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  const sof = out.indexOf(Buffer.from([0xff, 0xc0]));
  if (sof < 0) throw new Error('no SOF0');
  out.writeUInt16BE(height, sof + 5);
  out.writeUInt16BE(width, sof + 7);
  return out;
}

/** Lossless WebP (VP8L) with its 14-bit width/height fields rewritten. */
function webpLosslessWithSize(webp: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(webp);
  const chunk = out.indexOf(Buffer.from('VP8L'));
  if (chunk < 0) throw new Error('no VP8L chunk');
  const bits = chunk + 9; // 'VP8L', size (4), signature 0x2f
  const old = out.readUInt32LE(bits);
  out.writeUInt32LE(((old & 0xf0000000) | ((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14)) >>> 0, bits);
  return out;
}

/** Little-endian TIFF with ImageWidth / ImageLength (tags 256/257) of IFD0 rewritten as LONGs. */
function tiffWithSize(tiff: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(tiff);
  if (out.toString('latin1', 0, 2) !== 'II') throw new Error('expected a little-endian TIFF');
  const ifd = out.readUInt32LE(4);
  const entries = out.readUInt16LE(ifd);
  for (let i = 0; i < entries; i++) {
    const e = ifd + 2 + i * 12;
    const tag = out.readUInt16LE(e);
    if (tag === 256 || tag === 257) {
      out.writeUInt16LE(4, e + 2);
      out.writeUInt32LE(1, e + 4);
      out.writeUInt32LE(tag === 256 ? width : height, e + 8);
    }
  }
  return out;
}

/** A COM segment right after SOI. */
function jpegWithComment(jpeg: Buffer, comment: string): Buffer {
  const payload = Buffer.from(comment, 'latin1');
  const header = Buffer.from([0xff, 0xfe, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, payload, jpeg.subarray(2)]);
}

const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><script>alert(1)</script><image href="file:///etc/passwd"/></svg>';

export async function imageItems(): Promise<ImageItem[]> {
  const base = gradient(96, 80);
  const png = await base.clone().png().toBuffer();
  const jpeg = await base.clone().jpeg({ quality: 85 }).toBuffer();
  const webp = await base.clone().webp({ quality: 80 }).toBuffer();
  const webpLossless = await base.clone().webp({ lossless: true }).toBuffer();
  const gif = await base.clone().gif().toBuffer();
  const tiff = await base.clone().tiff().toBuffer();
  const avif = await base.clone().avif({ quality: 50, effort: 0 }).toBuffer();
  const animatedGif = fixture('anim-200x160.gif');
  const animatedWebp = await sharp(animatedGif, { animated: true }).webp({ quality: 80 }).toBuffer();
  const cmyk = await base.clone().toColourspace('cmyk').jpeg({ quality: 85 }).toBuffer();
  const rgba = await base.clone().ensureAlpha(0.5).png().toBuffer();
  const onePixelGif = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#336699' } }).gif().toBuffer();
  const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), randomBytes(200, 7)]);

  const items: ImageItem[] = [
    // Accepted: ordinary and unusual but legal images are tokenized (200).
    { name: 'png-rgb', bytes: png, declaredType: 'image/png', expect: OK },
    { name: 'jpeg-rgb', bytes: jpeg, declaredType: 'image/jpeg', expect: OK },
    { name: 'webp-lossy', bytes: webp, declaredType: 'image/webp', expect: OK },
    { name: 'webp-lossless', bytes: webpLossless, declaredType: 'image/webp', expect: OK },
    { name: 'gif', bytes: gif, declaredType: 'image/gif', expect: OK },
    { name: 'tiff', bytes: tiff, declaredType: 'image/tiff', expect: OK },
    { name: 'avif', bytes: avif, declaredType: 'image/avif', expect: OK },
    { name: 'png-1x1', bytes: bitPng(1, 1), declaredType: 'image/png', expect: OK },
    { name: 'gif-1x1', bytes: onePixelGif, declaredType: 'image/gif', expect: OK },
    { name: 'png-1x20000', bytes: bitPng(1, 20000), declaredType: 'image/png', expect: OK },
    { name: 'png-20000x1', bytes: bitPng(20000, 1), declaredType: 'image/png', expect: OK },
    { name: 'gif-animated-first-frame', bytes: animatedGif, declaredType: 'image/gif', expect: OK },
    { name: 'webp-animated-first-frame', bytes: animatedWebp, declaredType: 'image/webp', expect: OK },
    { name: 'png-16bit-rgb', bytes: fixture('rgb16-200x160.png'), declaredType: 'image/png', expect: OK },
    { name: 'png-16bit-grey', bytes: fixture('grey16-200x160.png'), declaredType: 'image/png', expect: OK },
    { name: 'png-palette', bytes: fixture('palette-320x200.png'), declaredType: 'image/png', expect: OK },
    { name: 'png-grey-alpha', bytes: fixture('la-200x300.png'), declaredType: 'image/png', expect: OK },
    { name: 'png-rgba', bytes: rgba, declaredType: 'image/png', expect: OK },
    { name: 'jpeg-cmyk', bytes: cmyk, declaredType: 'image/jpeg', expect: OK },
    { name: 'jpeg-exif-orientation-6', bytes: fixture('orient6-320x240.jpg'), declaredType: 'image/jpeg', expect: OK },
    // The declared type is never trusted: the bytes decide.
    { name: 'png-declared-as-jpeg', bytes: png, declaredType: 'image/jpeg', expect: OK },
    // Polyglots whose header names a real image: decoded as that image, the payload ignored.
    { name: 'polyglot-gif-with-zip (GIFAR)', bytes: Buffer.concat([gif, zip]), declaredType: 'image/gif', expect: OK },
    {
      name: 'polyglot-png-with-html-after-iend',
      bytes: Buffer.concat([png, Buffer.from('<html><script>alert(document.cookie)</script></html>')]),
      declaredType: 'image/png',
      expect: OK,
    },
    { name: 'polyglot-jpeg-with-script-comment', bytes: jpegWithComment(jpeg, '<?php system($_GET[0]); ?><script>alert(1)</script>'), declaredType: 'image/jpeg', expect: OK },

    // Empty, truncated and corrupt files: 422 naming the decoder's complaint.
    {
      name: 'empty',
      bytes: Buffer.alloc(0),
      declaredType: 'image/png',
      expect: { status: 422, code: 'invalid_image', detail: /images\[0\]: The image is empty \(0 bytes\)/ },
      byForm: {
        json: { status: 400, code: 'invalid_base64', detail: /images\[0\] is empty/ },
        raw: { status: 400, code: 'bad_request', detail: /the image body is empty/ },
      },
    },
    { name: 'png-truncated', bytes: half(png), declaredType: 'image/png', expect: invalid('PNG') },
    { name: 'jpeg-truncated', bytes: half(jpeg), declaredType: 'image/jpeg', expect: invalid('JPEG') },
    { name: 'webp-truncated', bytes: half(webp), declaredType: 'image/webp', expect: invalid('WebP') },
    { name: 'gif-truncated', bytes: half(gif), declaredType: 'image/gif', expect: invalid('GIF') },
    { name: 'tiff-truncated', bytes: half(tiff), declaredType: 'image/tiff', expect: invalid('TIFF') },
    { name: 'avif-truncated', bytes: half(avif), declaredType: 'image/avif', expect: invalid('AVIF') },
    { name: 'png-signature-and-ihdr-only', bytes: Buffer.concat([PNG_SIGNATURE, ihdr(64, 64, 8, 2)]), declaredType: 'image/png', expect: invalid('PNG') },
    {
      name: 'png-idat-crc-corrupt',
      bytes: (() => {
        const out = Buffer.from(png);
        const idat = out.indexOf(Buffer.from('IDAT'));
        const length = out.readUInt32BE(idat - 4);
        out[idat + 4 + length] = out[idat + 4 + length]! ^ 0xff;
        return out;
      })(),
      declaredType: 'image/png',
      expect: invalid('PNG'),
    },
    { name: 'png-zero-width', bytes: bitPng(0, 16), declaredType: 'image/png', expect: invalid('PNG') },
    { name: 'png-zero-height', bytes: bitPng(16, 0), declaredType: 'image/png', expect: invalid('PNG') },
    { name: 'gif-zero-size', bytes: gifWithSize(onePixelGif, 0, 0), declaredType: 'image/gif', expect: { status: 422, code: 'invalid_image', detail: /images\[0\]: The GIF image has no pixels \(0x0\)/ } },
    { name: 'jpeg-without-frame', bytes: Buffer.from([0xff, 0xd8, 0xff, 0xd9]), declaredType: 'image/jpeg', expect: invalid('JPEG') },
    {
      name: 'webp-garbage-bitstream',
      bytes: (() => {
        const out = Buffer.from(webp);
        out.fill(0xa5, 30);
        return out;
      })(),
      declaredType: 'image/webp',
      expect: invalid('WebP'),
    },

    // Decompression bombs: small files whose headers claim huge images, refused from the header.
    { name: 'bomb-png-20000x20000', bytes: bitPng(20000, 20000), declaredType: 'image/png', expect: tooLarge(20000, 20000) },
    {
      name: 'bomb-png-header-100000x100000',
      bytes: Buffer.concat([PNG_SIGNATURE, ihdr(100000, 100000, 8, 2), pngChunk('IDAT', deflateSync(Buffer.alloc(1024))), pngChunk('IEND', Buffer.alloc(0))]),
      declaredType: 'image/png',
      expect: tooLarge(100000, 100000),
    },
    { name: 'bomb-jpeg-60000x60000', bytes: jpegWithSize(jpeg, 60000, 60000), declaredType: 'image/jpeg', expect: tooLarge(60000, 60000) },
    { name: 'bomb-gif-65535x65535', bytes: gifWithSize(gif, 65535, 65535), declaredType: 'image/gif', expect: tooLarge(65535, 65535) },
    { name: 'bomb-webp-16383x16383', bytes: webpLosslessWithSize(webpLossless, 16383, 16383), declaredType: 'image/webp', expect: tooLarge(16383, 16383) },
    { name: 'bomb-tiff-100000x100000', bytes: tiffWithSize(tiff, 100000, 100000), declaredType: 'image/tiff', expect: tooLarge(100000, 100000) },

    // Recognised but refused containers: 415 with the reason.
    { name: 'svg', bytes: Buffer.from(SVG), declaredType: 'image/svg+xml', expect: refused(/SVG is refused/) },
    {
      name: 'svg-with-bom-and-prolog-declared-png',
      bytes: Buffer.from(`\ufeff<?xml version="1.0"?>\n<!DOCTYPE svg>\n${SVG}`),
      declaredType: 'image/png',
      expect: refused(/SVG is refused/),
    },
    { name: 'svg-utf16', bytes: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(SVG, 'utf16le')]), declaredType: 'image/svg+xml', expect: refused(/SVG is refused/) },
    { name: 'html', bytes: Buffer.from('<!doctype html><html><body onload="x()"></body></html>'), declaredType: 'image/png', expect: refused(/not an image/) },
    {
      name: 'heic',
      bytes: Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.alloc(4), Buffer.from('mif1heic'), randomBytes(64, 3)]),
      declaredType: 'image/heic',
      expect: refused(/HEIC is not supported: no HEVC decoder/),
    },
    {
      name: 'heif-mif1',
      bytes: Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.from('ftypmif1'), Buffer.alloc(4), randomBytes(64, 4)]),
      declaredType: 'image/heif',
      expect: refused(/HEIF/),
    },
    {
      name: 'pdf',
      bytes: Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF'),
      declaredType: 'application/pdf',
      expect: refused(/PDF is not an image/),
      // As a raw body, its Content-Type is refused before the bytes are looked at.
      byForm: { raw: { status: 415, code: 'unsupported_media_type', detail: /unsupported Content-Type/ } },
    },
    { name: 'bmp', bytes: Buffer.concat([Buffer.from('BM'), randomBytes(60, 5)]), declaredType: 'image/bmp', expect: refused(/BMP is not supported/) },
    { name: 'psd', bytes: Buffer.concat([Buffer.from('8BPS'), randomBytes(60, 6)]), declaredType: 'image/vnd.adobe.photoshop', expect: refused(/PSD/) },

    // Unrecognised data and polyglots whose header lies: 422.
    { name: 'zip', bytes: zip, declaredType: 'image/png', expect: unrecognised },
    { name: 'elf-executable', bytes: Buffer.concat([Buffer.from('\x7fELF', 'latin1'), randomBytes(120, 8)]), declaredType: 'image/png', expect: unrecognised },
    { name: 'plain-text', bytes: Buffer.from('hello, this is not an image'), declaredType: 'image/jpeg', expect: unrecognised },
    { name: 'random-bytes', bytes: randomBytes(4096, 2505), declaredType: 'image/webp', expect: unrecognised },
    {
      name: 'polyglot-png-signature-then-html',
      bytes: Buffer.concat([PNG_SIGNATURE, Buffer.from('<html><script>alert(1)</script></html>')]),
      declaredType: 'image/png',
      expect: invalid('PNG'),
    },
    { name: 'polyglot-gif-javascript', bytes: Buffer.from('GIF89a=1;alert(document.domain);//\x00\x00;', 'latin1'), declaredType: 'image/gif', expect: invalid('GIF') },
    { name: 'polyglot-gif-header-then-jpeg', bytes: Buffer.concat([Buffer.from('GIF89a'), jpeg]), declaredType: 'image/jpeg', expect: invalid('GIF') },
    { name: 'polyglot-jpeg-marker-then-zip', bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), zip]), declaredType: 'image/jpeg', expect: invalid('JPEG') },
  ];
  return items;
}
