/**
 * The service's deliberate choices on top of the official pipeline, and the accepted formats.
 * (Bit-exact parity of each of them with Pillow is in parity.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp, { type Color } from 'sharp';
import { preprocessImage } from '../../src/images/index.js';
import { diffStats, fixtureInput, specFor } from './fixtures.js';

function pixel(rgb: Uint8Array, size: number, x: number, y: number): number[] {
  const i = (y * size + x) * 3;
  return [rgb[i]!, rgb[i + 1]!, rgb[i + 2]!];
}

function solid(width: number, height: number, channels: 3 | 4, background: Color) {
  return sharp({ create: { width, height, channels, background } });
}

test('EXIF orientation is applied before resizing (orientation 6 = rotate 90 clockwise)', async () => {
  // Left half red, right half blue, stored 64x32; orientation 6 shows it 32x64, red on top.
  const stored = await sharp(
    Buffer.concat(Array.from({ length: 32 }, () => Buffer.concat([Buffer.alloc(32 * 3, Buffer.from([255, 0, 0])), Buffer.alloc(32 * 3, Buffer.from([0, 0, 255]))]))),
    { raw: { width: 64, height: 32, channels: 3 } },
  )
    .png()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const image = await preprocessImage(stored, specFor(32));
  assert.equal(image.source.orientation, 6);
  assert.deepEqual([image.source.width, image.source.height], [64, 32]);
  assert.deepEqual([image.source.orientedWidth, image.source.orientedHeight], [32, 64]);
  // 32x64 -> 32x64 (short side already 32), centre crop rows 16..47: top half red, bottom blue.
  assert.deepEqual(pixel(image.rgb, 32, 5, 2), [255, 0, 0]);
  assert.deepEqual(pixel(image.rgb, 32, 5, 29), [0, 0, 255]);
});

test('alpha is composited on white', async () => {
  const transparent = await solid(40, 30, 4, { r: 0, g: 0, b: 0, alpha: 0 }).png().toBuffer();
  const image = await preprocessImage(transparent, specFor(16));
  assert.ok(image.source.hasAlpha);
  assert.ok(image.rgb.every((v) => v === 255), 'fully transparent black is white');
  const half = await solid(40, 30, 4, { r: 0, g: 0, b: 200, alpha: 0.5 }).png().toBuffer();
  const mixed = await preprocessImage(half, specFor(16));
  // alpha 0.5 is stored as 128: floor((c*128 + 255*127)/255)
  assert.deepEqual(pixel(mixed.rgb, 16, 3, 3), [127, 127, Math.floor((200 * 128 + 255 * 127) / 255)]);
});

test('grey, palette, 16-bit and CMYK inputs come out as 8-bit RGB', async () => {
  const grey = await preprocessImage(fixtureInput('grey-320x240'), specFor(64));
  assert.equal(grey.source.space, 'b-w');
  for (let i = 0; i < grey.rgb.length; i += 3) assert.ok(grey.rgb[i] === grey.rgb[i + 1] && grey.rgb[i] === grey.rgb[i + 2]);

  const palette = await preprocessImage(fixtureInput('palette-320x200'), specFor(64));
  assert.equal(palette.rgb.length, 64 * 64 * 3);

  const deep = await preprocessImage(fixtureInput('rgb16-200x160'), specFor(64));
  assert.equal(deep.source.depth, 'ushort');
  assert.equal(deep.source.space, 'rgb16');

  // CMYK: no parity with Pillow's naive conversion is claimed (libvips converts through a CMYK
  // ICC profile), but colours must land where they belong.
  const cmyk = await preprocessImage(
    await solid(48, 48, 3, { r: 0, g: 160, b: 230 }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(),
    specFor(32),
  );
  assert.equal(cmyk.source.space, 'cmyk');
  const [r, g, b] = pixel(cmyk.rgb, 32, 16, 16);
  assert.ok(r! < 60 && g! > 120 && b! > 180, `cyan-ish, got ${[r, g, b]}`);
  const black = await preprocessImage(await solid(16, 16, 3, '#000000').toColourspace('cmyk').jpeg().toBuffer(), specFor(16));
  assert.ok(Math.max(...pixel(black.rgb, 16, 8, 8)) < 40, 'black stays dark');
});

test('animated GIF and WebP: the first frame is used', async () => {
  const red = await solid(40, 30, 3, '#ff0000').png().toBuffer();
  const blue = await solid(40, 30, 3, '#0000ff').png().toBuffer();
  for (const format of ['gif', 'webp'] as const) {
    const animated = await sharp([red, blue], { join: { animated: true } })[format]().toBuffer();
    const image = await preprocessImage(animated, specFor(16));
    assert.equal(image.source.pages, 2);
    assert.deepEqual([image.source.width, image.source.height], [40, 30]);
    const [r, g, b] = pixel(image.rgb, 16, 8, 8);
    assert.ok(r! > 240 && g! < 16 && b! < 16, `${format}: first (red) frame, got ${[r, g, b]}`);
  }
});

test('TIFF and AVIF are accepted; lossless TIFF equals the PNG path exactly', async (t) => {
  const png = fixtureInput('rgb-301x200');
  const fromPng = await preprocessImage(png, specFor(128));
  const tiff = await sharp(png).tiff({ compression: 'lzw' }).toBuffer();
  const fromTiff = await preprocessImage(tiff, specFor(128));
  assert.equal(fromTiff.source.format, 'tiff');
  assert.deepEqual(fromTiff.rgb, fromPng.rgb);
  const avif = await sharp(png).avif({ quality: 90 }).toBuffer();
  const fromAvif = await preprocessImage(avif, specFor(128));
  assert.equal(fromAvif.source.format, 'avif');
  const stats = diffStats(fromAvif.rgb, fromPng.rgb);
  t.diagnostic(`AVIF q90 vs PNG: mean ${stats.mean.toFixed(3)} max ${stats.max}`);
  assert.ok(stats.mean < 4, `lossy AVIF close to the source (mean ${stats.mean})`);
});

test('1x1 images work: every output pixel is the input pixel', async () => {
  const one = await solid(1, 1, 3, { r: 9, g: 99, b: 199 }).png().toBuffer();
  const image = await preprocessImage(one, specFor(256));
  for (let i = 0; i < image.rgb.length; i += 3) assert.deepEqual([image.rgb[i], image.rgb[i + 1], image.rgb[i + 2]], [9, 99, 199]);
});

test('1x20000 and 20000x1 work without materialising the 5-million-pixel resize', async () => {
  const column = Buffer.alloc(20000 * 3);
  for (let y = 0; y < 20000; y++) column.set([y % 256, (y >> 8) % 256, 77], y * 3);
  for (const [width, height] of [[1, 20000], [20000, 1]] as const) {
    const png = await sharp(column, { raw: { width, height, channels: 3 } }).png().toBuffer();
    const image = await preprocessImage(png, specFor(256));
    assert.deepEqual([image.source.width, image.source.height], [width, height]);
    // The single input column (row) is replicated across the short axis.
    for (let a = 0; a < 256; a++) {
      const first = width === 1 ? pixel(image.rgb, 256, 0, a) : pixel(image.rgb, 256, a, 0);
      for (const b of [1, 128, 255]) {
        assert.deepEqual(width === 1 ? pixel(image.rgb, 256, b, a) : pixel(image.rgb, 256, a, b), first);
      }
    }
    // Centre of a 256 x 5,120,000 resize: input rows around 9999.5, blue channel constant.
    assert.equal(image.rgb[2], 77);
  }
});
