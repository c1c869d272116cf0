/**
 * The records of a dataset folder (layout in output-dir.ts):
 *
 *   plan.json      what the run computes: kind, model, columns, options, the units of the plan
 *                  and their fingerprint. Written by the first part to start; every later run
 *                  on the folder must compute the same thing (else it would mix two datasets).
 *   part files     one per finished part: which units it covered, its command, where it ran.
 *   manifest.json  once every unit of the plan has its shard: the plan's description, the
 *                  shards in order with their row and error counts, totals, and the parts.
 *   errors.jsonl   every unit's bad images, in unit order, written with the manifest.
 *
 * The shards and errors files of a dataset do not depend on how it was split into parts or
 * how often it was interrupted; the manifest adds the provenance (commands, times).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { OutputError } from './output-errors.js';
import { type OutputDir, shardName } from './output-dir.js';

export const DATASET_FORMAT = 'toklip-dataset';
export const DATASET_FORMAT_VERSION = 1;

export interface ColumnDescription {
  readonly name: string;
  /** Arrow-style type as readers show it: string, int32, list<uint16>, list<float32>... */
  readonly type: string;
  readonly nullable: boolean;
  readonly description: string;
}

/** What a run computes; `fingerprint` hashes every member but `created_by` and `model.bundle_sha256`. */
export interface PlanRecord {
  readonly format: typeof DATASET_FORMAT;
  readonly format_version: number;
  readonly kind: 'tokens' | 'text-embeddings';
  readonly model: Readonly<Record<string, unknown>> & { readonly id: string; readonly bundle_sha256: string | null };
  readonly columns: readonly ColumnDescription[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly inputs: readonly string[];
  readonly units: number;
  /** sha256 of the units' contents (paths and keys of files, paths and sizes of tar shards). */
  readonly units_sha256: string;
  readonly fingerprint: string;
  readonly created_by: string;
}

export interface UnitStats {
  readonly unit: number;
  readonly file: string;
  readonly rows: number;
  readonly errors: number;
  /** Relative paths in the dataset folder: the shard, and its errors file (null when it has no bad images). */
  readonly errors_file: string | null;
}

export interface PartRecord {
  readonly part: { readonly index: number; readonly count: number };
  readonly fingerprint: string;
  readonly command: readonly string[];
  readonly execution_provider: string;
  readonly started: string;
  readonly finished: string;
  readonly units: readonly UnitStats[];
  /** Images whose bytes were seen earlier in this run and not computed again. */
  readonly duplicates_reused: number;
}

export interface ErrorRecord {
  readonly key: string;
  readonly source: string;
  readonly member: string | null;
  readonly code: string;
  readonly detail: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The plan record with its fingerprint filled in. */
export function withFingerprint(plan: Omit<PlanRecord, 'fingerprint'>): PlanRecord {
  const { created_by: _createdBy, ...rest } = plan;
  const { bundle_sha256: _sha, ...model } = rest.model;
  return { ...plan, fingerprint: sha256Hex(JSON.stringify({ ...rest, model })) };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw OutputError.from(error, `read ${path}`);
  }
  return JSON.parse(text) as T;
}

function differences(a: PlanRecord, b: PlanRecord): string[] {
  const keys = ['kind', 'model', 'columns', 'options', 'inputs', 'units', 'units_sha256'] as const;
  return keys.filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]));
}

/**
 * Records the plan in a new folder, or checks that the folder's plan is this one: a run never
 * adds shards to another run's dataset.
 */
export async function claimPlan(out: OutputDir, plan: PlanRecord): Promise<void> {
  const existing = await readJson<PlanRecord>(out.planPath);
  if (existing !== undefined) {
    if (existing.fingerprint !== plan.fingerprint) {
      throw new OutputError(
        `${out.root} holds the output of another run (${differences(existing, plan).join(', ') || 'plan'} differ from this command's); ` +
          'resume it with the same inputs, model and options, or choose another --out',
      );
    }
    const [was, now] = [existing.model.bundle_sha256, plan.model.bundle_sha256];
    if (was !== null && now !== null && was !== now) {
      throw new OutputError(`${out.root} was made with model ${plan.model.id} of bundle sha256 ${was}; this bundle's is ${now}: choose another --out`);
    }
    return;
  }
  await out.writeAtomic(out.planPath, `${JSON.stringify(plan, null, 2)}\n`);
}

export function errorLines(errors: readonly ErrorRecord[]): string {
  return errors.map((e) => `${JSON.stringify({ key: e.key, source: e.source, member: e.member, code: e.code, detail: e.detail })}\n`).join('');
}

/** Rows (from the shard's footer) and bad images (from its errors file) of a complete unit. */
export async function unitStats(out: OutputDir, unit: number): Promise<UnitStats> {
  const path = out.shardPath(unit);
  let rows: number;
  try {
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(path));
    rows = Number(meta.num_rows);
  } catch (error) {
    throw OutputError.from(error, `read the footer of ${path}`);
  }
  const errorsPath = out.unitErrorsPath(unit);
  let errors = 0;
  try {
    errors = (await readFile(errorsPath, 'utf8')).split('\n').filter((line) => line !== '').length;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw OutputError.from(error, `read ${errorsPath}`);
  }
  return { unit, file: `data/${shardName(unit)}`, rows, errors, errors_file: errors > 0 ? `errors/${basename(errorsPath)}` : null };
}

export async function readPlan(out: OutputDir): Promise<PlanRecord | undefined> {
  return readJson<PlanRecord>(out.planPath);
}

async function readParts(out: OutputDir, fingerprint: string): Promise<PartRecord[]> {
  const dir = join(out.root, 'parts');
  const names = (await readdir(dir)).filter((name) => /^part-\d+-of-\d+\.json$/.test(name)).sort();
  const parts: PartRecord[] = [];
  for (const name of names) {
    const part = await readJson<PartRecord>(join(dir, name));
    if (part !== undefined && part.fingerprint === fingerprint) parts.push(part);
  }
  return parts;
}

export interface MergeResult {
  readonly complete: boolean;
  /** Units of the plan without a shard yet. */
  readonly missing: readonly number[];
  readonly rows: number;
  readonly errors: number;
}

/**
 * Writes manifest.json and errors.jsonl when every unit of the plan has its shard; otherwise
 * says which units are missing (other parts still running, or not started).
 */
export async function writeManifestIfComplete(out: OutputDir, describe: (plan: PlanRecord) => Record<string, unknown> = () => ({})): Promise<MergeResult> {
  const plan = await readPlan(out);
  if (plan === undefined) throw new OutputError(`${out.root} holds no dataset (no parts/plan.json)`);
  const done = await out.completedUnits();
  const missing = Array.from({ length: plan.units }, (_, unit) => unit).filter((unit) => !done.has(unit));
  if (missing.length > 0) return { complete: false, missing, rows: 0, errors: 0 };
  const shards: UnitStats[] = [];
  let errorsText = '';
  for (let unit = 0; unit < plan.units; unit++) {
    const stats = await unitStats(out, unit);
    shards.push(stats);
    if (stats.errors > 0) errorsText += await readFile(out.unitErrorsPath(unit), 'utf8');
  }
  const rows = shards.reduce((sum, s) => sum + s.rows, 0);
  const errors = shards.reduce((sum, s) => sum + s.errors, 0);
  const parts = await readParts(out, plan.fingerprint);
  const manifest = {
    format: plan.format,
    format_version: plan.format_version,
    kind: plan.kind,
    model: plan.model,
    ...describe(plan),
    columns: plan.columns,
    options: plan.options,
    inputs: plan.inputs,
    counts: { rows, errors, inputs: rows + errors, shards: plan.units },
    shards,
    errors_file: 'errors.jsonl',
    parts: parts.map((p) => ({
      index: p.part.index,
      count: p.part.count,
      command: p.command,
      execution_provider: p.execution_provider,
      started: p.started,
      finished: p.finished,
      duplicates_reused: p.duplicates_reused,
    })),
    fingerprint: plan.fingerprint,
    created_by: plan.created_by,
  };
  await out.writeAtomic(out.errorsPath, errorsText);
  await out.writeAtomic(out.manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { complete: true, missing: [], rows, errors };
}
