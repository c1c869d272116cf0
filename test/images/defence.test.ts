/** Hostile and broken input: every case is a clear 4xx ServiceError, never a crash or a hang. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { ServiceError, type ErrorCode } from '../../src/errors.js';
import { preprocessImage, type ImageLimits } from '../../src/images/index.js';
import { pngChunk } from '../corpus/images.js';
import { fixtureInput, specFor } from './fixtures.js';

const spec = specFor(256);

async function refusal(bytes: Uint8Array, limits?: ImageLimits): Promise<ServiceError> {
  try {
    await preprocessImage(bytes, spec, limits);
  } catch (error) {
    assert.ok(error instanceof ServiceError, `expected a ServiceError, got ${String(error)}`);
    assert.ok(error.status >= 400 && error.status < 500, `status ${error.status}`);
    return error;
  }
  assert.fail('expected a refusal');
}

async function assertRefused(bytes: Uint8Array, code: ErrorCode, detail: RegExp, limits?: ImageLimits): Promise<ServiceError> {
  const error = await refusal(bytes, limits);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, detail);
  return error;
}

/** A valid PNG of any size: 1-bit grey, all zero, so 20000x20000 deflates to ~50 kB. */
function bitPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale
  const row = Math.ceil(width / 8) + 1;
  const idat = deflateSync(Buffer.alloc(row * height), { level: 9 });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

test('decompression bomb: a 20000x20000 PNG of ~50 kB is refused from its header (413), without decoding', async () => {
  const bomb = bitPng(20000, 20000);
  assert.ok(bomb.length < 200_000, `bomb is ${bomb.length} bytes`);
  const before = process.memoryUsage().rss;
  const error = await assertRefused(bomb, 'image_too_large', /20000x20000 \(400000000 pixels\); the limit is 50000000 pixels/);
  assert.equal(error.status, 413);
  assert.deepEqual(error.extensions, { width: 20000, height: 20000, pixels: 400_000_000, limit: 50_000_000 });
  const grown = process.memoryUsage().rss - before;
  assert.ok(grown < 100 * 2 ** 20, `RSS grew by ${grown} bytes`); // decoding would need 400 MB+
});

test('a JPEG whose header claims 60000x60000 is refused as too large', async () => {
  const jpeg = Buffer.from(fixtureInput('orient3-320x240'));
  // Patch the SOF0 frame header (FF C0, length, precision, height, width).
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  assert.ok(sof > 0);
  jpeg.writeUInt16BE(60000, sof + 5);
  jpeg.writeUInt16BE(60000, sof + 7);
  await assertRefused(jpeg, 'image_too_large', /60000x60000/);
});

test('the pixel limit is configurable and counts the first frame', async () => {
  const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).png().toBuffer();
  await assertRefused(png, 'image_too_large', /300x200 \(60000 pixels\); the limit is 59999 pixels/, {
    maxInputPixels: 59_999,
    maxInputBytes: 1e6,
  });
  const ok = await preprocessImage(png, specFor(64), { maxInputPixels: 60_000, maxInputBytes: 1e6 });
  assert.equal(ok.rgb.length, 64 * 64 * 3);
});

test('images over the byte limit are refused before sniffing (413)', async () => {
  const png = fixtureInput('rgb-37x50');
  const error = await assertRefused(png, 'payload_too_large', new RegExp(`${png.length} bytes; the limit is 100 bytes per image`), {
    maxInputPixels: 1e6,
    maxInputBytes: 100,
  });
  assert.equal(error.status, 413);
});

test('truncated PNG, JPEG, WebP, GIF, TIFF and AVIF are invalid images (422)', async () => {
  const base = fixtureInput('rgb-301x200');
  const inputs: Record<string, Buffer> = {
    PNG: base,
    JPEG: await sharp(base).jpeg().toBuffer(),
    WebP: await sharp(base).webp().toBuffer(),
    GIF: await sharp(base).gif().toBuffer(),
    TIFF: await sharp(base).tiff().toBuffer(),
    AVIF: await sharp(base).avif().toBuffer(),
  };
  for (const [label, bytes] of Object.entries(inputs)) {
    for (const fraction of [0.3, 0.9, 0.995]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * fraction));
      const error = await assertRefused(cut, 'invalid_image', new RegExp(`^The ${label} image could not be decoded: `));
      assert.equal(error.status, 422);
    }
  }
});

test('corrupt headers and data are invalid images', async () => {
  const png = Buffer.from(fixtureInput('rgb-37x50'));
  const badCrc = Buffer.from(png);
  badCrc[30] = badCrc[30]! ^ 0xff; // the IHDR CRC
  await assertRefused(badCrc, 'invalid_image', /PNG image could not be decoded/);
  const badData = Buffer.from(png);
  for (let i = 60; i < 260; i++) badData[i] = 0x55; // IDAT garbage
  await assertRefused(badData, 'invalid_image', /PNG image could not be decoded/);

  const jpeg = fixtureInput('orient3-320x240');
  const noFrame = Buffer.from(jpeg);
  noFrame[noFrame.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0x01; // SOF0 marker destroyed
  await assertRefused(noFrame, 'invalid_image', /JPEG image could not be decoded/);
  const badScan = Buffer.from(jpeg);
  badScan[badScan.indexOf(Buffer.from([0xff, 0xda])) + 4] = 9; // SOS: 9 components
  await assertRefused(badScan, 'invalid_image', /JPEG image could not be decoded/);

  const gif = Buffer.from(await sharp(png).gif().toBuffer());
  for (let i = gif.length - 80; i < gif.length - 2; i++) gif[i] = 0xff;
  await assertRefused(gif, 'invalid_image', /GIF image could not be decoded/);

  const webp = await sharp(png).webp().toBuffer();
  const badStart = Buffer.from(webp);
  badStart[badStart.indexOf(Buffer.from([0x9d, 0x01, 0x2a]))] = 0; // VP8 start code
  await assertRefused(badStart, 'invalid_image', /WebP image could not be decoded/);
  const badPixels = Buffer.from(webp);
  badPixels.fill(0xff, 40);
  await assertRefused(badPixels, 'invalid_image', /WebP image could not be decoded/);
});

test('decoder warnings are not errors (failOn "error"): a JPEG with stray bytes before a marker opens, as in Pillow', async () => {
  const jpeg = fixtureInput('orient3-320x240');
  const dht = jpeg.indexOf(Buffer.from([0xff, 0xc4]));
  const stray = Buffer.concat([jpeg.subarray(0, dht), Buffer.from([1, 2, 3]), jpeg.subarray(dht)]);
  const clean = await preprocessImage(jpeg, spec);
  const warned = await preprocessImage(stray, spec);
  assert.deepEqual(warned.rgb, clean.rgb);
});

test('zero-byte input and zero-size images', async () => {
  await assertRefused(new Uint8Array(0), 'invalid_image', /empty \(0 bytes\)/);
  await assertRefused(bitPng(0, 10), 'invalid_image', /PNG image could not be decoded/);
  await assertRefused(bitPng(10, 0), 'invalid_image', /PNG image could not be decoded/);
});

test('SVG is refused without rasterising, whatever it pretends to be', async () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
  await assertRefused(Buffer.from(svg), 'unsupported_image_format', /SVG is refused/);
  await assertRefused(Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${svg}`), 'unsupported_image_format', /SVG is refused/);
  await assertRefused(Buffer.from(`\ufeff  \n${svg}`), 'unsupported_image_format', /SVG is refused/);
});

test('HEIC is refused with the reason (minimal ftyp header)', async () => {
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.alloc(4), Buffer.from('mif1heic')]);
  const error = await assertRefused(heic, 'unsupported_image_format', /HEIC is not supported: no HEVC decoder/);
  assert.equal(error.status, 415);
});

test('polyglots are decided by the magic bytes', async () => {
  const png = fixtureInput('rgb-37x50');
  const clean = await preprocessImage(png, spec);
  // A PNG followed by an SVG/HTML payload is a PNG: decoded as PNG, the payload ignored.
  const withSvg = Buffer.concat([png, Buffer.from('<svg onload="alert(1)"/><html><script>x()</script></html>')]);
  const decoded = await preprocessImage(withSvg, spec);
  assert.equal(decoded.source.format, 'png');
  assert.deepEqual(decoded.rgb, clean.rgb);
  // A GIF header in front of a JPEG is a (broken) GIF, never a JPEG.
  const jpeg = fixtureInput('orient3-320x240');
  await assertRefused(Buffer.concat([Buffer.from('GIF89a'), jpeg]), 'invalid_image', /^The GIF image could not be decoded/);
  // SVG markup with a PNG-like name or mime is still SVG: the content decides.
  await assertRefused(Buffer.from('  <svg><image href="file:///etc/passwd"/></svg>'), 'unsupported_image_format', /SVG/);
});

test('the server-side state survives: a valid image decodes after all the refusals', async () => {
  const image = await preprocessImage(fixtureInput('rgb-640x480'), spec);
  assert.equal(image.rgb.length, 256 * 256 * 3);
});
