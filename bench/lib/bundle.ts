/**
 * A model bundle as the benchmarks see it: manifest facts, graph paths, weight bytes per graph,
 * and the deterministic inputs every runtime gets (bench/python/inputs.py computes the same).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import Value from 'typebox/value';
import { GRAPH_NAMES, type GraphName, type Manifest, ManifestSchema } from '../../src/models/manifest.js';
import { REPO_ROOT } from './common.js';

export { GRAPH_NAMES, type GraphName };

export interface BenchBundle {
  readonly id: string;
  readonly dir: string;
  readonly manifest: Manifest;
  readonly graphs: readonly GraphName[];
  readonly graphPaths: Readonly<Partial<Record<GraphName, string>>>;
  readonly imageSize: number;
  readonly numTokens: number;
  readonly codebookSize: number;
  readonly textContextLength: number | undefined;
  readonly textVocabSize: number | undefined;
  /** .onnx file plus external data, per graph (bytes). */
  readonly graphBytes: Readonly<Partial<Record<GraphName, number>>>;
  readonly weightBytes: number;
}

export function readBundle(dir: string): BenchBundle {
  const abs = resolve(dir);
  const raw = JSON.parse(readFileSync(join(abs, 'manifest.json'), 'utf8')) as unknown;
  if (!Value.Check(ManifestSchema, raw)) throw new Error(`${abs}: manifest.json is not a bundle manifest`);
  const manifest = raw as Manifest;
  const extra = raw as { architecture?: { text?: { vocab_size?: number } | null } };
  const graphs = GRAPH_NAMES.filter((g) => manifest.graphs[g] !== undefined);
  const graphPaths: Partial<Record<GraphName, string>> = {};
  const graphBytes: Partial<Record<GraphName, number>> = {};
  for (const g of graphs) {
    const spec = manifest.graphs[g]!;
    graphPaths[g] = join(abs, spec.file);
    graphBytes[g] = [spec.file, ...(spec.external_data ?? [])].reduce((n, f) => n + (manifest.files[f]?.size ?? 0), 0);
  }
  return {
    id: manifest.name,
    dir: abs,
    manifest,
    graphs,
    graphPaths,
    imageSize: manifest.image_size,
    numTokens: manifest.num_tokens,
    codebookSize: manifest.codebook.size,
    textContextLength: manifest.text?.context_length,
    textVocabSize: extra.architecture?.text?.vocab_size ?? undefined,
    graphBytes,
    weightBytes: Object.values(graphBytes).reduce((a, b) => a + b, 0),
  };
}

/**
 * The bundles benchmarked when none is named: the shipped model(s) under models/ and the
 * full-size random-weight bundles under models-local/ (git-ignored, made by tools/export).
 */
export function defaultBundleDirs(): string[] {
  const found: string[] = [];
  for (const parent of ['models', 'models-local']) {
    const root = join(REPO_ROOT, parent);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      if (existsSync(join(root, name, 'manifest.json'))) found.push(join(root, name));
    }
  }
  return found;
}

export function bundleLabel(dir: string): string {
  return basename(resolve(dir));
}

// --- deterministic inputs -------------------------------------------------------------------
// A 32-bit integer hash of the element index (murmur3's finaliser): exact in JS and numpy alike.

function hash32(index: number, seed: number): number {
  let x = (Math.imul(index, 0x9e3779b1) + seed) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** [batch, 3, R, R] in [-1, 1): what vq_encoder receives (already normalised). */
export function pixelInput(batch: number, size: number): Float32Array {
  const out = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < out.length; i++) out[i] = ((hash32(i, 1) >>> 8) / 2 ** 24) * 2 - 1;
  return out;
}

/** [batch, tokens] ids below codebookSize. */
export function idInput(batch: number, tokens: number, codebookSize: number): BigInt64Array {
  const out = new BigInt64Array(batch * tokens);
  for (let i = 0; i < out.length; i++) out[i] = BigInt(hash32(i, 2) % codebookSize);
  return out;
}

/** [batch, L] text ids: 12 word pieces (ids >= 3), eos (1), then padding (0), as a tokenised prompt. */
export function textInput(batch: number, length: number, vocabSize: number): BigInt64Array {
  const out = new BigInt64Array(batch * length);
  for (let b = 0; b < batch; b++) {
    const words = Math.min(12, length - 1);
    for (let t = 0; t < words; t++) out[b * length + t] = BigInt(3 + (hash32(b * length + t, 3) % (vocabSize - 3)));
    out[b * length + words] = 1n;
  }
  return out;
}
