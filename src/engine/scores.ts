/** The model's score convention: L2-normalised embeddings, cosine, and softmax over texts of scale * cos. */

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

export interface Scores {
  readonly cosine: number[][];
  readonly probabilities: number[][];
}

/** Cosine of every (image, text) pair and softmax over texts of scale * cos per image. */
export function similarity(images: readonly Float32Array[], texts: readonly Float32Array[], scale: number): Scores {
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
