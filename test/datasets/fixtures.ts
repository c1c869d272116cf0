/**
 * Generated dataset inputs for the dataset command's tests: a folder tree, WebDataset tar
 * shards and a list file, with good images (photo-like noise, so that token ids vary) and the
 * bad members the issue names: corrupt bytes, truncated files, SVG, an image over the pixel
 * limit and a file over the byte limit, plus duplicates of good images under other names and
 * metadata members (.json, .txt) that must be skipped. Each bad input is listed with the error
 * code the service gives it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { pack } from 'tar-stream';

/** The limits the tests run the command with (flags --max-image-pixels / --body-limit-mb). */
export const LIMITS = { maxImagePixels: 1_000_000, bodyLimitMb: 1 } as const;

export interface BadInput {
  /** Path below the folder, or tar member name. */
  readonly name: string;
  readonly code: string;
}

/** A deterministic picture: smooth colour fields plus seeded noise. */
export async function picture(seed: number, width: number, height: number, format: 'jpeg' | 'png' | 'webp'): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const noise = (state >>> 26) - 32;
      const i = (y * width + x) * 3;
      raw[i] = 128 + 100 * Math.sin((x + seed * 13) / (7 + (seed % 5))) + noise;
      raw[i + 1] = ((x * 255) / width + (seed * 37) % 255 + noise) & 0xff;
      raw[i + 2] = 128 + 100 * Math.cos((x + y + seed) / (5 + (seed % 7))) + noise;
    }
  }
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  if (format === 'jpeg') return image.jpeg({ quality: 90 }).toBuffer();
  if (format === 'webp') return image.webp({ quality: 90 }).toBuffer();
  return image.png().toBuffer();
}

const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');

/** A PNG whose header claims more pixels than LIMITS.maxImagePixels (small file: one colour). */
async function overPixelLimit(): Promise<Buffer> {
  return sharp({ create: { width: 1200, height: 1000, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png().toBuffer();
}

/** A file over LIMITS.bodyLimitMb: raw noise stored in an uncompressed PNG (width x height <= the pixel limit). */
async function overByteLimit(): Promise<Buffer> {
  const width = 700;
  const height = 600;
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
}

async function put(path: string, bytes: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

export interface FolderFixture {
  readonly dir: string;
  /** Good images (relative paths), in the order the command reads them. */
  readonly good: readonly string[];
  readonly bad: readonly BadInput[];
  /** Relative paths of byte-identical copies of earlier good images. */
  readonly duplicates: readonly string[];
}

/**
 * `count` good images in a tree (a/, a/b/, c/ and the top), plus one of each bad kind, two
 * duplicates and files the reader must skip (notes.txt, meta.json).
 */
export async function makeFolder(dir: string, count: number): Promise<FolderFixture> {
  const good: string[] = [];
  const folders = ['', 'a/', 'a/b/', 'c/'];
  const formats = ['jpeg', 'png', 'webp'] as const;
  for (let i = 0; i < count; i++) {
    const format = formats[i % 3]!;
    const name = `${folders[i % 4]}img-${String(i).padStart(4, '0')}.${format === 'jpeg' ? 'jpg' : format}`;
    await put(join(dir, name), await picture(i, 48 + (i % 7) * 9, 40 + (i % 5) * 11, format));
    good.push(name);
  }
  const first = await picture(0, 48, 40, 'jpeg');
  const jpeg = await picture(1000, 64, 64, 'jpeg');
  const png = await picture(1001, 64, 64, 'png');
  const bad: BadInput[] = [
    { name: 'a/corrupt.jpg', code: 'invalid_image' },
    { name: 'a/b/truncated.jpg', code: 'invalid_image' },
    { name: 'c/truncated.png', code: 'invalid_image' },
    { name: 'c/vector.svg', code: 'unsupported_image_format' },
    { name: 'huge-pixels.png', code: 'image_too_large' },
    { name: 'huge-bytes.png', code: 'payload_too_large' },
  ];
  await put(join(dir, 'a/corrupt.jpg'), Buffer.from('this is not a JPEG at all, only text with an image extension'));
  await put(join(dir, 'a/b/truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await put(join(dir, 'c/truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  await put(join(dir, 'c/vector.svg'), SVG);
  await put(join(dir, 'huge-pixels.png'), await overPixelLimit());
  await put(join(dir, 'huge-bytes.png'), await overByteLimit());
  const duplicates = ['c/copy-of-first.jpg', 'zz-copy-of-first.jpg'];
  // The first good image is a JPEG of seed 0, 48 x 40: its copies are byte-identical.
  for (const name of duplicates) await put(join(dir, name), first);
  await put(join(dir, 'notes.txt'), 'not an image: skipped\n');
  await put(join(dir, 'a/meta.json'), '{"skipped": true}\n');
  return { dir, good, bad, duplicates };
}

export interface TarFixture {
  readonly path: string;
  /** Image member names in archive order, good and bad. */
  readonly members: readonly string[];
  readonly bad: readonly BadInput[];
}

async function writeTar(path: string, entries: readonly { name: string; bytes: Buffer }[]): Promise<void> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    tar.on('end', resolve);
    tar.on('error', reject);
  });
  for (const entry of entries) tar.entry({ name: entry.name, size: entry.bytes.length }, entry.bytes);
  tar.finalize();
  await done;
  await put(path, Buffer.concat(chunks));
}

/** A WebDataset shard: `count` samples (key.jpg + key.json), with bad members and a duplicate when `withBad`. */
export async function makeTar(path: string, seed: number, count: number, withBad: boolean): Promise<TarFixture> {
  const entries: { name: string; bytes: Buffer }[] = [];
  const members: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `sample-${seed}-${String(i).padStart(4, '0')}`;
    const name = `${key}.${i % 2 === 0 ? 'jpg' : 'png'}`;
    entries.push({ name, bytes: await picture(seed * 1000 + i, 56 + (i % 4) * 8, 48 + (i % 3) * 8, i % 2 === 0 ? 'jpeg' : 'png') });
    entries.push({ name: `${key}.json`, bytes: Buffer.from(JSON.stringify({ caption: `sample ${i}` })) });
    members.push(name);
  }
  const bad: BadInput[] = [];
  if (withBad) {
    const jpeg = await picture(seed * 1000 + 900, 64, 64, 'jpeg');
    const additions: { name: string; bytes: Buffer; code?: string }[] = [
      { name: 'bad/corrupt.jpg', bytes: Buffer.from('corrupt member bytes'), code: 'invalid_image' },
      { name: 'bad/truncated.jpg', bytes: jpeg.subarray(0, Math.floor(jpeg.length / 2)), code: 'invalid_image' },
      { name: 'bad/vector.svg', bytes: SVG, code: 'unsupported_image_format' },
      { name: 'bad/huge-pixels.png', bytes: await overPixelLimit(), code: 'image_too_large' },
      { name: 'bad/huge-bytes.png', bytes: await overByteLimit(), code: 'payload_too_large' },
      // A duplicate of the shard's first image, under another key.
      { name: 'dup/again.jpg', bytes: entries[0]!.bytes },
    ];
    for (const { name, bytes, code } of additions) {
      entries.push({ name, bytes });
      members.push(name);
      if (code !== undefined) bad.push({ name, code });
    }
  }
  await writeTar(path, entries);
  return { path, members, bad };
}
