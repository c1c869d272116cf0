import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { detectAcceptedFormat, sniffImageFormat } from '../../src/images/index.js';

const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

/** An ISO-BMFF 'ftyp' box with the given major and compatible brands. */
function ftyp(major: string, ...compatible: string[]): Uint8Array {
  const size = 16 + 4 * compatible.length;
  return bytes([0, 0, 0, size], 'ftyp', major, [0, 0, 0, 0], ...compatible, [0, 0, 0, 8], 'meta');
}

test('sniffImageFormat names containers by their magic bytes', () => {
  const table: Array<[Uint8Array, string | undefined]> = [
    [bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13]), 'png'],
    [bytes([0xff, 0xd8, 0xff, 0xe0]), 'jpeg'],
    [bytes('GIF89a', [1, 0, 1, 0]), 'gif'],
    [bytes('GIF87a', [1, 0, 1, 0]), 'gif'],
    [bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '), 'webp'],
    [bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt '), undefined],
    [bytes('II*', [0]), 'tiff'],
    [bytes('MM', [0, 42]), 'tiff'],
    [ftyp('avif', 'mif1', 'avif'), 'avif'],
    [ftyp('mif1', 'mif1', 'avif'), 'avif'],
    [ftyp('heic', 'mif1', 'heic'), 'heic'],
    [ftyp('mif1', 'mif1', 'heic'), 'heic'],
    [ftyp('mif1', 'mif1'), 'heif'],
    [ftyp('isom', 'isom', 'mp42'), undefined],
    [bytes('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'svg'],
    [bytes('\n\t  <?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="1" height="1"></svg>'), 'svg'],
    [bytes([0xef, 0xbb, 0xbf], '<svg>'), 'svg'],
    [new Uint8Array(Buffer.from('\ufeff<svg></svg>', 'utf16le')), 'svg'],
    [bytes('<?xml version="1.0"?><note/>'), 'xml'],
    [bytes('<html><body>hi</body></html>'), 'xml'],
    [bytes('BM', new Array(20).fill(0)), 'bmp'],
    [bytes([0, 0, 1, 0, 1, 0]), 'ico'],
    [bytes('%PDF-1.7'), 'pdf'],
    [bytes([0xff, 0x0a]), 'jxl'],
    [bytes('8BPS'), 'psd'],
    [bytes('P6\n1 1\n255\n'), 'pnm'],
    [bytes('hello world'), undefined],
    [new Uint8Array(0), undefined],
    [bytes([0x89, 0x50]), undefined],
  ];
  for (const [input, want] of table) assert.equal(sniffImageFormat(input), want, Buffer.from(input).toString('latin1').slice(0, 24));
});

function refusal(input: Uint8Array): ServiceError {
  try {
    detectAcceptedFormat(input);
  } catch (error) {
    assert.ok(error instanceof ServiceError);
    return error;
  }
  assert.fail('expected a refusal');
}

test('detectAcceptedFormat accepts the six formats', () => {
  assert.equal(detectAcceptedFormat(bytes([0xff, 0xd8, 0xff, 0xdb])), 'jpeg');
  assert.equal(detectAcceptedFormat(ftyp('avif', 'mif1')), 'avif');
});

test('SVG is refused with the reason, before any decoder runs', () => {
  const error = refusal(bytes('<svg onload="alert(1)"></svg>'));
  assert.equal(error.code, 'unsupported_image_format');
  assert.equal(error.status, 415);
  assert.match(error.message, /SVG is refused.*never rasterised/);
  assert.deepEqual(error.extensions, { format: 'svg' });
});

test('HEIC is refused naming the missing HEVC decoder', () => {
  const error = refusal(ftyp('heic', 'mif1', 'heic'));
  assert.equal(error.code, 'unsupported_image_format');
  assert.match(error.message, /HEIC is not supported: no HEVC decoder/);
});

test('other known containers are refused with the accepted list', () => {
  const error = refusal(bytes('BM', new Array(40).fill(0)));
  assert.equal(error.code, 'unsupported_image_format');
  assert.match(error.message, /BMP is not supported; send PNG, JPEG, WebP, GIF, TIFF or AVIF/);
  assert.match(refusal(bytes('%PDF-1.4')).message, /PDF is not an image/);
});

test('empty and unrecognised data are invalid images (422)', () => {
  const empty = refusal(new Uint8Array(0));
  assert.equal(empty.code, 'invalid_image');
  assert.equal(empty.status, 422);
  assert.match(empty.message, /empty \(0 bytes\)/);
  const junk = refusal(bytes('this is not an image at all'));
  assert.equal(junk.code, 'invalid_image');
  assert.match(junk.message, /first bytes match no known image header/);
});
