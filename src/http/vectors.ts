/** Vectors on the wire: JSON numbers or little-endian float32 in base64 (the OpenAI `encoding_format: base64` convention). */
import type { FastifyBaseLogger } from 'fastify';
import { floatsToBase64 } from '../engine/packing.js';
import { l2Normalize } from '../engine/scores.js';

/** [T * D] row-major -> T rows of D numbers. */
export function rows(v: Float32Array, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < v.length; i += width) out.push(Array.from(v.subarray(i, i + width)));
  return out;
}

/** An embedding as the answer carries it: optionally L2-normalised, then numbers or base64. */
export function embeddingVector(v: Float32Array, options: { normalize: boolean; asBase64: boolean }): number[] | string {
  const unit = options.normalize ? l2Normalize(v) : v;
  return options.asBase64 ? floatsToBase64(unit) : Array.from(unit);
}

/** Per-token features as the answer carries them: T rows of D numbers, or base64 of T*D float32. */
export function featureRows(features: Float32Array, dim: number, asBase64: boolean): number[][] | string {
  return asBase64 ? floatsToBase64(features) : rows(features, dim);
}

/** Texts with words the model cannot represent, at debug level (the answer names them too). */
export function logUnknownWords(log: FastifyBaseLogger, unknownWords: readonly (readonly string[])[]): void {
  const texts = unknownWords.flatMap((words, row) => (words.length > 0 ? [{ row, words }] : []));
  if (texts.length > 0) log.debug({ unknownWords: texts }, 'texts hold words the model cannot represent');
}
