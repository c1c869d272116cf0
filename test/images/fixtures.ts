/** Access to the committed image fixtures (test/fixtures/images, made by make_fixtures.py). */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { PreprocessSpec } from '../../src/images/index.js';

export const FIXTURE_DIR = new URL('../fixtures/images/', import.meta.url);

export interface FixtureCase {
  readonly name: string;
  readonly input: string;
  readonly width: number;
  readonly height: number;
  /** R -> reference file (gzip of raw R x R x 3 uint8). */
  readonly references: Readonly<Record<string, string>>;
}

export function fixtureCases(): FixtureCase[] {
  const manifest = JSON.parse(readFileSync(new URL('manifest.json', FIXTURE_DIR), 'utf8')) as { cases: FixtureCase[] };
  return manifest.cases;
}

export function fixtureInput(name: string): Buffer {
  const entry = fixtureCases().find((c) => c.name === name);
  if (!entry) throw new Error(`no fixture named ${name}`);
  return readFileSync(new URL(entry.input, FIXTURE_DIR));
}

export function readFixture(relative: string): Buffer {
  return readFileSync(new URL(relative, FIXTURE_DIR));
}

export function readReference(relative: string): Uint8Array {
  return new Uint8Array(gunzipSync(readFixture(relative)));
}

export function specFor(size: number): PreprocessSpec {
  return { size, resize: 'shortest', interpolation: 'bicubic', crop: 'center' };
}

export interface DiffStats {
  /** Mean absolute difference in uint8 steps. */
  readonly mean: number;
  readonly max: number;
  /** Values that differ at all. */
  readonly differing: number;
}

export function diffStats(a: Uint8Array, b: Uint8Array): DiffStats {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let sum = 0;
  let max = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
    if (d !== 0) differing++;
  }
  return { mean: sum / a.length, max, differing };
}
