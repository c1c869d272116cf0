/**
 * Packed vectors as base64, the binary form of the wire and of the dataset client: ids as
 * little-endian uint16 (codebooks of at most 65536 entries) or uint32, embeddings and features
 * as little-endian float32 (the OpenAI `encoding_format: base64` convention).
 */
import { endianness } from 'node:os';
import { bytesPerId } from './token-rows.js';

const LITTLE_ENDIAN = endianness() === 'LE';

/** Ids packed for a model's codebook, as base64. */
export function idsToBase64(ids: Uint32Array, codebookSize: number): string {
  const width = bytesPerId(codebookSize);
  const bytes = Buffer.allocUnsafe(ids.length * width);
  for (let i = 0; i < ids.length; i++) {
    if (width === 2) bytes.writeUInt16LE(ids[i]!, i * 2);
    else bytes.writeUInt32LE(ids[i]!, i * 4);
  }
  return bytes.toString('base64');
}

/** Packed ids back from their bytes (a whole number of ids: checked by the caller). */
export function unpackIds(bytes: Buffer, width: 2 | 4): Uint32Array {
  const ids = new Uint32Array(bytes.length / width);
  for (let i = 0; i < ids.length; i++) ids[i] = width === 2 ? bytes.readUInt16LE(i * 2) : bytes.readUInt32LE(i * 4);
  return ids;
}

/** Little-endian float32 bytes as base64. */
export function floatsToBase64(v: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const bytes = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) bytes.writeFloatLE(v[i]!, i * 4);
  return bytes.toString('base64');
}

/** Little-endian float32 from base64. */
export function base64ToFloats(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
