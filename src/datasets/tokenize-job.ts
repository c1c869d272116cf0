/**
 * `toklip tokenize`: reader -> mapper -> writer -> distributor, wired.
 *
 *   prepareTokenize   plan the inputs (every part computes the same plan), make sure the output
 *                     folder is writable: before any model is loaded, so mistakes fail fast
 *   runTokenize       claim the folder for this plan, skip the units already complete, compute
 *                     the rest through an ordered window (images in flight across shards, rows
 *                     written in input order), commit each shard atomically with its errors
 *                     file, record the part, and write the manifest once every unit is done
 *
 * Resume is by unit: a run killed at any moment leaves complete shards and hidden temporaries;
 * the same command again removes this part's temporaries and computes the missing units.
 */
import { createHash } from 'node:crypto';
import { type ImageFailure, imageFailure } from './image-errors.js';
import { DuplicateResults } from './dedupe.js';
import { type Plan, type Unit, planInputs, unitIdentity } from './inputs.js';
import {
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  type ErrorRecord,
  type MergeResult,
  type PartRecord,
  type PlanRecord,
  claimPlan,
  errorLines,
  sha256Hex,
  unitStats,
  withFingerprint,
  writeManifestIfComplete,
} from './manifest.js';
import type { ImageMapper, MappedImage } from './mapper.js';
import { OutputDir, shardName } from './output-dir.js';
import { ShardWriter } from './parquet-shard.js';
import { runOrdered } from './pipeline.js';
import type { ProgressReporter } from './progress.js';
import { type InputItem, InputItemError, type ReaderLimits, readUnit } from './reader.js';
import { type ShardSelection, inPart } from './sharding.js';
import { tokenColumns, tokenRow } from './token-columns.js';

export interface TokenizeJobOptions {
  readonly inputs: readonly string[];
  readonly out: string;
  readonly shard: ShardSelection;
  /** Files per shard for folders and list files (a tar shard is one shard). */
  readonly shardSize: number;
  readonly embeddings: boolean;
  readonly features: boolean;
  readonly readerLimits: ReaderLimits;
  /** Memory for remembered results of identical images; 0: no deduplication. */
  readonly dedupeBytes: number;
  /** argv of the command, recorded in the part file. */
  readonly command: readonly string[];
  readonly createdBy: string;
}

export interface PreparedTokenize {
  readonly options: TokenizeJobOptions;
  readonly plan: Plan;
  readonly out: OutputDir;
}

export interface TokenizeSummary {
  /** Units of this part, and how many were already complete when the run started. */
  readonly units: number;
  readonly unitsResumed: number;
  /** Rows and bad images in this part's shards (all of them, resumed ones included). */
  readonly rows: number;
  readonly errors: number;
  /** Images computed by this run (rows + bad images of the units it wrote). */
  readonly processed: number;
  readonly duplicatesReused: number;
  readonly seconds: number;
  readonly merge: MergeResult;
}

export async function prepareTokenize(options: TokenizeJobOptions): Promise<PreparedTokenize> {
  const plan = await planInputs(options.inputs, options.shardSize);
  const out = new OutputDir(options.out);
  await out.prepare();
  return { options, plan, out };
}

type Event =
  | { readonly kind: 'start'; readonly unit: Unit }
  | { readonly kind: 'image'; readonly unit: Unit; readonly item: InputItem }
  | { readonly kind: 'end'; readonly unit: Unit };

interface Outcome {
  readonly sha256?: string;
  readonly mapped?: MappedImage;
  readonly failure?: ImageFailure;
}

async function* events(units: readonly Unit[], limits: ReaderLimits): AsyncGenerator<Event> {
  for (const unit of units) {
    yield { kind: 'start', unit };
    for await (const item of readUnit(unit, limits)) yield { kind: 'image', unit, item };
    yield { kind: 'end', unit };
  }
}

export function tokenPlanRecord(prepared: PreparedTokenize, mapper: ImageMapper): PlanRecord {
  const { options, plan } = prepared;
  const m = mapper.model;
  const columns = tokenColumns(m, options);
  return withFingerprint({
    format: DATASET_FORMAT,
    format_version: DATASET_FORMAT_VERSION,
    kind: 'tokens',
    model: {
      id: m.id,
      bundle_sha256: m.bundleSha256,
      image_size: m.imageSize,
      grid: m.grid,
      num_tokens: m.numTokens,
      codebook_size: m.codebookSize,
      embedding_dim: m.embeddingDim,
      id_type: columns.idType,
      preprocessing: m.preprocessing,
    },
    columns: columns.descriptions,
    options: { embeddings: options.embeddings, features: options.features, shard_size: options.shardSize },
    inputs: plan.inputs,
    units: plan.units.length,
    units_sha256: sha256Hex(JSON.stringify(plan.units.map(unitIdentity))),
    created_by: options.createdBy,
  });
}

export async function runTokenize(
  prepared: PreparedTokenize,
  mapper: ImageMapper,
  context: { readonly progress: ProgressReporter; readonly signal: AbortSignal },
): Promise<TokenizeSummary> {
  const { options, plan, out } = prepared;
  const { progress, signal } = context;
  const started = new Date();
  const startedMs = performance.now();
  const record = tokenPlanRecord(prepared, mapper);
  await claimPlan(out, record);

  const mine = plan.units.filter((unit) => inPart(unit.index, options.shard));
  const complete = await out.completedUnits();
  const pending = mine.filter((unit) => !complete.has(unit.index));
  await out.removeStaleTemporaries(new Set(pending.map((unit) => unit.index)));

  const columns = tokenColumns(mapper.model, options);
  const cache = new DuplicateResults<Outcome>(options.dedupeBytes, (o) =>
    o.mapped ? o.mapped.ids.byteLength + (o.mapped.embedding?.byteLength ?? 0) + (o.mapped.features?.byteLength ?? 0) : 256,
  );

  const compute = async (bytes: Uint8Array): Promise<Outcome> => {
    try {
      return { mapped: await mapper.map(bytes, signal) };
    } catch (error) {
      const failure = imageFailure(error);
      if (failure === undefined) throw error;
      return { failure };
    }
  };
  const work = async (event: Event): Promise<Outcome> => {
    if (event.kind !== 'image') return {};
    let bytes: Uint8Array;
    try {
      bytes = await event.item.read();
    } catch (error) {
      if (error instanceof InputItemError) return { failure: { code: error.code, detail: error.message } };
      throw error;
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const outcome = await cache.get(sha256, () => compute(bytes));
    return { ...outcome, sha256 };
  };

  let writer: ShardWriter | undefined;
  let errors: ErrorRecord[] = [];
  let processed = 0;
  const sink = async (event: Event, outcome: Outcome): Promise<void> => {
    const { unit } = event;
    if (event.kind === 'start') {
      writer = await ShardWriter.open(out.shardPath(unit.index), columns.specs, columns.rowGroupRows);
      errors = [];
      progress.unitStarted(shardName(unit.index), unit.kind === 'files' ? unit.files.length : undefined);
    } else if (event.kind === 'image') {
      const { item } = event;
      processed++;
      if (outcome.failure !== undefined) {
        errors.push({ key: item.key, source: item.source, member: item.member, code: outcome.failure.code, detail: outcome.failure.detail });
      } else {
        await writer!.append(tokenRow(item, outcome.sha256!, outcome.mapped!));
      }
      progress.imageDone(outcome.failure !== undefined);
    } else {
      // The errors file first: the shard's rename is what marks the unit complete.
      if (errors.length > 0) await out.writeAtomic(out.unitErrorsPath(unit.index), errorLines(errors));
      else await out.remove(out.unitErrorsPath(unit.index));
      await writer!.commit();
      writer = undefined;
      progress.unitDone();
    }
  };

  progress.begin(pending.length);
  try {
    await runOrdered(events(pending, options.readerLimits), work, sink, { window: mapper.concurrency, signal });
  } catch (error) {
    await writer?.abort();
    throw error;
  } finally {
    progress.end();
  }

  const stats = [];
  for (const unit of mine) stats.push(await unitStats(out, unit.index));
  const part: PartRecord = {
    part: { index: options.shard.index, count: options.shard.count },
    fingerprint: record.fingerprint,
    command: options.command,
    execution_provider: mapper.model.executionProvider,
    started: started.toISOString(),
    finished: new Date().toISOString(),
    units: stats,
    duplicates_reused: cache.hits,
  };
  await out.writeAtomic(out.partPath(options.shard.index, options.shard.count), `${JSON.stringify(part, null, 2)}\n`);
  const merge = await writeManifestIfComplete(out);
  return {
    units: mine.length,
    unitsResumed: mine.length - pending.length,
    rows: stats.reduce((sum, s) => sum + s.rows, 0),
    errors: stats.reduce((sum, s) => sum + s.errors, 0),
    processed,
    duplicatesReused: cache.hits,
    seconds: (performance.now() - startedMs) / 1000,
    merge,
  };
}
