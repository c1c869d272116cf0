/**
 * The exporter's fixture bundle (test/fixtures/bundles/tiny-64: a small random checkpoint) and
 * its golden PyTorch outputs, read for the HTTP tests.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const FIXTURE_BUNDLES_DIR = fileURLToPath(new URL('../fixtures/bundles', import.meta.url));
export const TINY_MODEL = 'tiny-64';
/** Shapes of tiny-64 (its manifest.json). */
export const TINY = { imageSize: 64, grid: [4, 4], numTokens: 16, codebookSize: 64, dim: 32, textContextLength: 16 } as const;

const GOLDEN = new URL('../fixtures/bundles/tiny-64/golden/', import.meta.url);

export interface GoldenManifest {
  images: string[];
  arrays: Record<string, { file: string; dtype: 'float32' | 'int64'; shape: number[] }>;
  texts: string[];
  prefix_tokens: number;
  tolerances: Record<string, number>;
}

export interface Golden {
  readonly manifest: GoldenManifest;
  /** The golden input images, PNG bytes. */
  readonly images: Buffer[];
  /** A golden array, flattened. */
  array(name: string): Promise<number[]>;
  /** A golden array as rows of its last dimension. */
  rows(name: string): Promise<number[][]>;
  tolerance(name: string): number;
}

export function chunks<T>(values: readonly T[], size: number): T[][] {
  return Array.from({ length: values.length / size }, (_, i) => values.slice(i * size, (i + 1) * size));
}

export async function loadGolden(): Promise<Golden> {
  const manifest = JSON.parse(await readFile(new URL('manifest.json', GOLDEN), 'utf8')) as GoldenManifest;
  const images = await Promise.all(manifest.images.map((f) => readFile(new URL(f, GOLDEN))));
  const array = async (name: string): Promise<number[]> => {
    const spec = manifest.arrays[name];
    if (spec === undefined) throw new Error(`no golden array ${name}`);
    const bytes = await readFile(new URL(spec.file, GOLDEN));
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    return spec.dtype === 'int64' ? Array.from(new BigInt64Array(buffer), Number) : Array.from(new Float32Array(buffer));
  };
  return {
    manifest,
    images,
    array,
    rows: async (name) => chunks(await array(name), manifest.arrays[name]!.shape.at(-1)!),
    tolerance: (name) => {
      const t = manifest.tolerances[name];
      if (t === undefined) throw new Error(`no golden tolerance for ${name}`);
      return t;
    },
  };
}

/** max |got - want| <= tolerance * max |want| (the bundle's tolerance rule). */
export function assertClose(got: readonly number[], want: readonly number[], tolerance: number, what: string): void {
  assert.equal(got.length, want.length, what);
  const scale = Math.max(...want.map(Math.abs));
  const worst = Math.max(...got.map((g, i) => Math.abs(g - want[i]!)));
  assert.ok(worst <= tolerance * scale, `${what}: max diff ${worst} > ${tolerance} * ${scale}`);
}
