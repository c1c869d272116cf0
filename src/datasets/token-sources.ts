/**
 * Token rows to decode, read from what the dataset command wrote (a dataset folder, or one of
 * its .parquet shards: columns `key` and `ids`) or from a generator's .npy file of ids
 * ([M, N] integers, C order; the key of row i is the file's name and i). Rows are read a row
 * group (or 1024 .npy rows) at a time.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { InputError } from './inputs.js';

export interface TokenRow {
  readonly key: string;
  readonly ids: readonly number[];
}

async function* parquetRows(path: string): AsyncGenerator<TokenRow> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const names = metadata.schema.map((e) => e.name);
  if (!names.includes('ids')) throw new InputError(`${path} has no 'ids' column (is it a toklip tokenize shard?)`);
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows = (await parquetReadObjects({ file, metadata, columns: names.includes('key') ? ['key', 'ids'] : ['ids'], rowStart: start, rowEnd: end })) as { key?: string; ids: number[] }[];
    for (const [i, row] of rows.entries()) yield { key: row.key ?? `${basename(path, '.parquet')}-${start + i}`, ids: row.ids };
    start = end;
  }
}

const NPY_TYPES: Readonly<Record<string, { bytes: number; read: (view: DataView, offset: number) => number }>> = {
  '<u2': { bytes: 2, read: (v, o) => v.getUint16(o, true) },
  '<i2': { bytes: 2, read: (v, o) => v.getInt16(o, true) },
  '<u4': { bytes: 4, read: (v, o) => v.getUint32(o, true) },
  '<i4': { bytes: 4, read: (v, o) => v.getInt32(o, true) },
  '<i8': { bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  '<u8': { bytes: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
  '|u1': { bytes: 1, read: (v, o) => v.getUint8(o) },
};

/** The header of a .npy file (format versions 1-3): element type, shape, where the data starts. */
export function parseNpyHeader(head: Uint8Array, path: string): { descr: string; shape: number[]; dataOffset: number } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (!magic.every((b, i) => head[i] === b)) throw new InputError(`${path} is not a .npy file`);
  const major = head[6]!;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(head.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new InputError(`${path}: unreadable .npy header`);
  if (fortran === 'True') throw new InputError(`${path}: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { descr, shape, dataOffset: start + headerLength };
}

async function* npyRows(path: string): AsyncGenerator<TokenRow> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(65536);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const { descr, shape, dataOffset } = parseNpyHeader(head.subarray(0, bytesRead), path);
    const type = NPY_TYPES[descr];
    if (type === undefined) throw new InputError(`${path}: element type ${descr} is not an integer type this command reads (${Object.keys(NPY_TYPES).join(', ')})`);
    const [rows, n] = shape.length === 2 ? shape : shape.length === 1 ? [1, shape[0]!] : [NaN, NaN];
    if (!(Number.isInteger(rows) && Number.isInteger(n))) throw new InputError(`${path}: shape (${shape.join(', ')}) is not [rows, ids]`);
    const rowBytes = n! * type.bytes;
    const name = basename(path, '.npy');
    const digits = String(Math.max(rows! - 1, 0)).length;
    for (let first = 0; first < rows!; first += 1024) {
      const count = Math.min(1024, rows! - first);
      const buffer = new Uint8Array(count * rowBytes);
      await handle.read(buffer, 0, buffer.length, dataOffset + first * rowBytes);
      const view = new DataView(buffer.buffer);
      for (let r = 0; r < count; r++) {
        const ids = Array.from({ length: n! }, (_, i) => type.read(view, r * rowBytes + i * type.bytes));
        yield { key: `${name}-${String(first + r).padStart(digits, '0')}`, ids };
      }
    }
  } finally {
    await handle.close();
  }
}

/** Rows of every input, in order: folders (their data/shard-*.parquet in order), .parquet and .npy files. */
export async function* tokenRows(inputs: readonly string[]): AsyncGenerator<TokenRow> {
  for (const input of inputs) {
    let info;
    try {
      info = await stat(input);
    } catch {
      throw new InputError(`input not found: ${input}`);
    }
    if (info.isDirectory()) {
      // A tokenize output folder (its data/ sub-folder), or a folder of its shards.
      const data = (await stat(join(input, 'data')).then((s) => s.isDirectory(), () => false)) ? join(input, 'data') : input;
      const shards = (await readdir(data)).filter((name) => /^shard-\d+\.parquet$/.test(name)).sort();
      if (shards.length === 0) throw new InputError(`${input} holds no data/shard-*.parquet (a toklip tokenize output folder)`);
      for (const shard of shards) yield* parquetRows(join(data, shard));
    } else if (input.endsWith('.parquet')) {
      yield* parquetRows(input);
    } else if (input.endsWith('.npy')) {
      yield* npyRows(input);
    } else {
      throw new InputError(`${input}: expected a tokenize output folder, a .parquet or a .npy file`);
    }
  }
}
