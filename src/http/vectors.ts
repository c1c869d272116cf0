/** Vector maths and encodings of the responses: L2 normalisation, cosine/softmax, float32 base64. */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const scale = 1 / Math.max(Math.sqrt(sum), 1e-12);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * scale;
  return out;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Cosine of every (image, text) pair and softmax over texts of scale * cos per image. */
export function similarity(images: Float32Array[], texts: Float32Array[], scale: number) {
  const a = images.map(l2Normalize);
  const b = texts.map(l2Normalize);
  const cosine = a.map((x) => b.map((y) => dot(x, y)));
  const probabilities = cosine.map((row) => {
    const logits = row.map((c) => scale * c);
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((s, e) => s + e, 0);
    return exps.map((e) => e / total);
  });
  return { cosine, probabilities };
}

/** Little-endian float32 bytes as base64 (the OpenAI `encoding_format: base64` convention). */
export function floatsToBase64(v: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const bytes = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) bytes.writeFloatLE(v[i]!, i * 4);
  return bytes.toString('base64');
}

/** [T * D] row-major -> T rows of D numbers. */
export function rows(v: Float32Array, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < v.length; i += width) out.push(Array.from(v.subarray(i, i + width)));
  return out;
}
