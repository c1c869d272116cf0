/**
 * Cached values as bytes: what the in-process LRU holds and Redis stores. Every value is one
 * record: a small JSON part (e.g. what was read of the source image) and typed arrays copied
 * bit for bit, so that a value read back is identical to the value computed.
 *
 *   byte 0        FORMAT (1)
 *   bytes 1-4     JSON length J (uint32 LE), then J bytes of UTF-8 JSON
 *   next byte     number of arrays A
 *   A times       kind (1 byte: 1 uint8, 2 uint32, 3 float32, 0 absent), element count (uint32 LE),
 *                 then the elements (little-endian, as typed arrays are on every platform Node runs on)
 *
 * A value that does not parse (truncated, another layout) is reported as such, never guessed at.
 */

const FORMAT = 1;

type ArrayPart = Uint8Array | Uint32Array | Float32Array | undefined;

const KIND = { absent: 0, u8: 1, u32: 2, f32: 3 } as const;

function kindOf(array: ArrayPart): number {
  if (array === undefined) return KIND.absent;
  if (array instanceof Float32Array) return KIND.f32;
  if (array instanceof Uint32Array) return KIND.u32;
  return KIND.u8;
}

export class CorruptValueError extends Error {
  constructor(detail: string) {
    super(`cached value does not parse: ${detail}`);
    this.name = 'CorruptValueError';
  }
}

export interface ValueRecord {
  readonly json: unknown;
  readonly arrays: readonly ArrayPart[];
}

/** A record as bytes, in a buffer of its own (never a slice of a shared pool). */
export function encodeRecord(record: ValueRecord): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(record.json ?? null));
  const size = 1 + 4 + json.length + 1 + record.arrays.reduce((n, a) => n + 5 + (a?.byteLength ?? 0), 0);
  const out = new Uint8Array(new ArrayBuffer(size));
  const view = new DataView(out.buffer);
  let offset = 0;
  out[offset++] = FORMAT;
  view.setUint32(offset, json.length, true);
  offset += 4;
  out.set(json, offset);
  offset += json.length;
  out[offset++] = record.arrays.length;
  for (const array of record.arrays) {
    out[offset++] = kindOf(array);
    view.setUint32(offset, array?.length ?? 0, true);
    offset += 4;
    if (array === undefined) continue;
    out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
    offset += array.byteLength;
  }
  return out;
}

export interface DecodedRecord {
  readonly json: unknown;
  readonly arrays: readonly ArrayPart[];
}

/** Bytes -> record; every array is a fresh copy (callers may keep or change it). */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const need = (n: number) => {
    if (offset + n > bytes.length) throw new CorruptValueError(`truncated at byte ${offset} of ${bytes.length}`);
  };
  need(1);
  if (bytes[offset++] !== FORMAT) throw new CorruptValueError(`layout ${bytes[0]}, expected ${FORMAT}`);
  need(4);
  const jsonLength = view.getUint32(offset, true);
  offset += 4;
  need(jsonLength);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(offset, offset + jsonLength)));
  } catch (error) {
    throw new CorruptValueError(`JSON part: ${(error as Error).message}`);
  }
  offset += jsonLength;
  need(1);
  const count = bytes[offset++]!;
  const arrays: ArrayPart[] = [];
  for (let i = 0; i < count; i++) {
    need(5);
    const kind = bytes[offset++]!;
    const length = view.getUint32(offset, true);
    offset += 4;
    if (kind === KIND.absent) {
      arrays.push(undefined);
      continue;
    }
    const width = kind === KIND.u8 ? 1 : kind === KIND.u32 || kind === KIND.f32 ? 4 : 0;
    if (width === 0) throw new CorruptValueError(`array ${i} has kind ${kind}`);
    need(length * width);
    const array = kind === KIND.u8 ? new Uint8Array(length) : kind === KIND.u32 ? new Uint32Array(length) : new Float32Array(length);
    // Copied through a byte view: the source offset need not be aligned.
    new Uint8Array(array.buffer).set(bytes.subarray(offset, offset + length * width));
    offset += length * width;
    arrays.push(array);
  }
  if (offset !== bytes.length) throw new CorruptValueError(`${bytes.length - offset} bytes after the last array`);
  return { json, arrays };
}

/** How one operation's item value is written and read. */
export interface ValueCodec<V> {
  encode(value: V): Uint8Array;
  /** Throws CorruptValueError when the bytes are not a value of this kind. */
  decode(bytes: Uint8Array): V;
}

/** Checks a decoded array's type (and length, when known) and returns it typed. */
export function part<T extends Uint8Array | Uint32Array | Float32Array>(
  record: DecodedRecord,
  index: number,
  type: new (n: number) => T,
  options: { optional?: boolean } = {},
): T | undefined {
  const array = record.arrays[index];
  if (array === undefined) {
    if (options.optional) return undefined;
    throw new CorruptValueError(`array ${index} is missing`);
  }
  if (!(array instanceof type)) throw new CorruptValueError(`array ${index} is a ${array.constructor.name}, expected a ${type.name}`);
  return array;
}
