/**
 * The reader: a unit of the plan -> its images, in order, each with its key and where it came
 * from. Files are read when the pipeline asks for their bytes (so that several reads overlap);
 * tar members are read in archive order as the stream passes them. Inputs larger than the
 * byte limit are refused from their size, without reading them; an unreadable file or a broken
 * archive becomes a bad image in the errors file, never a crash.
 */
import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import type { BadImageCode } from './image-errors.js';
import { type Unit, isImageName, memberKey } from './inputs.js';

/** A bad input found by the reader (the pipeline records it like a refused image). */
export class InputItemError extends Error {
  constructor(
    readonly code: BadImageCode,
    detail: string,
  ) {
    super(detail);
    this.name = 'InputItemError';
  }
}

export interface InputItem {
  readonly key: string;
  /** The file, or the tar shard holding the member. */
  readonly source: string;
  /** The tar member's name; null for files. */
  readonly member: string | null;
  /** The image bytes; rejects with an InputItemError for a bad input. */
  read(): Promise<Uint8Array>;
}

export interface ReaderLimits {
  /** Largest image file accepted (the engine's TOKLIP_BODY_LIMIT_MB). */
  readonly maxBytes: number;
}

function tooLarge(size: number, limits: ReaderLimits): InputItemError {
  return new InputItemError('payload_too_large', `The image is ${size} bytes; the limit is ${limits.maxBytes} bytes per image.`);
}

async function readFileBounded(path: string, limits: ReaderLimits): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new InputItemError('unreadable_file', `cannot open ${path}: ${(error as Error).message}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputItemError('unreadable_file', `${path} is not a regular file`);
    if (info.size > limits.maxBytes) throw tooLarge(info.size, limits);
    return await handle.readFile();
  } catch (error) {
    if (error instanceof InputItemError) throw error;
    throw new InputItemError('unreadable_file', `cannot read ${path}: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}

function fileItems(unit: Extract<Unit, { kind: 'files' }>, limits: ReaderLimits): InputItem[] {
  return unit.files.map((file) => ({ key: file.key, source: file.path, member: null, read: () => readFileBounded(file.path, limits) }));
}

const failed = (error: InputItemError) => () => Promise.reject(error);

/** The image members of a tar shard, in archive order; a broken archive ends with one invalid_archive item. */
async function* tarItems(path: string, limits: ReaderLimits): AsyncGenerator<InputItem> {
  const file = createReadStream(path);
  const stream: Readable = /\.(tgz|gz)$/i.test(path) ? file.pipe(createGunzip()) : file;
  const tar = extract();
  // Errors of the file or the gunzip stream end the extraction with that error.
  file.on('error', (error) => tar.destroy(error));
  stream.on('error', (error) => tar.destroy(error));
  stream.pipe(tar);
  try {
    for await (const entry of tar) {
      const { name, type, size = 0 } = entry.header;
      if ((type !== 'file' && type !== 'contiguous-file') || !isImageName(name)) {
        entry.resume();
        continue;
      }
      const item = { key: memberKey(name), source: path, member: name };
      if (size > limits.maxBytes) {
        entry.resume();
        yield { ...item, read: failed(tooLarge(size, limits)) };
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      yield { ...item, read: () => Promise.resolve(bytes) };
    }
  } catch (error) {
    const detail = `the archive is unreadable after its last good member: ${(error as Error).message}`;
    yield { key: memberKey(path.split('/').pop() ?? path), source: path, member: null, read: failed(new InputItemError('invalid_archive', detail)) };
  } finally {
    file.destroy();
  }
}

/** The images of one unit, in order. */
export async function* readUnit(unit: Unit, limits: ReaderLimits): AsyncGenerator<InputItem> {
  if (unit.kind === 'files') yield* fileItems(unit, limits);
  else yield* tarItems(unit.path, limits);
}
