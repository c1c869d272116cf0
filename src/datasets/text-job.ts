/**
 * `toklip embed-texts FILE --out DIR`: one caption a line -> text embeddings (for zero-shot
 * classifiers and retrieval indexes), in the same folder layout as a token dataset: shards of
 * `shardSize` lines, each committed atomically with its errors file, resumable, --shard I/N,
 * manifest.json once complete. Lines the model refuses (empty after its text cleaning, too long,
 * not Unicode) are listed in the errors file with their line number as key.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ServiceError, isServiceError } from '../errors.js';
import { type Engine, createRequestContext } from '../engine/index.js';
import { base64ToFloats } from '../engine/packing.js';
import { l2Normalize } from '../engine/scores.js';
import { InputError } from './inputs.js';
import {
  DATASET_FORMAT,
  DATASET_FORMAT_VERSION,
  type ErrorRecord,
  type MergeResult,
  type PartRecord,
  type PlanRecord,
  claimPlan,
  errorLines,
  unitStats,
  withFingerprint,
  writeManifestIfComplete,
} from './manifest.js';
import { postJsonPatiently } from './http-post.js';
import { bearer } from './server-models.js';
import type { DatasetModel } from './mapper.js';
import { OutputDir, shardName } from './output-dir.js';
import { ShardWriter, flatColumn, listColumn } from './parquet-shard.js';
import { runOrdered } from './pipeline.js';
import type { ProgressReporter } from './progress.js';
import { type ShardSelection, inPart } from './sharding.js';

export interface EncodedLine {
  /** [D], L2-normalised. */
  readonly embedding: Float32Array;
  readonly unknownWords: readonly string[];
}

export interface TextEncoder {
  readonly model: Pick<DatasetModel, 'id' | 'bundleSha256' | 'embeddingDim' | 'executionProvider'>;
  readonly concurrency: number;
  /** Rejects with a ServiceError invalid_text for a text the model refuses. */
  encode(text: string, signal: AbortSignal): Promise<EncodedLine>;
}

function stripField(message: string): string {
  return message.replace(/^(texts|input)\[\d+\] /, '');
}

export function engineTextEncoder(engine: Engine, model: TextEncoder['model'], concurrency: number, timeoutMs: number): TextEncoder {
  let calls = 0;
  return {
    model,
    concurrency,
    async encode(text, signal) {
      const ctx = createRequestContext({ requestId: `texts-${++calls}`, timeoutMs, signal });
      try {
        const [line] = (await engine.encodeTexts({ model: model.id, texts: [text] }, ctx)).value;
        return { embedding: l2Normalize(line!.embedding), unknownWords: line!.unknownWords };
      } finally {
        ctx.close();
      }
    },
  };
}

export function httpTextEncoder(urls: readonly string[], model: TextEncoder['model'], apiKey: string | undefined): TextEncoder {
  let next = 0;
  return {
    model,
    concurrency: 16 * urls.length,
    async encode(text, signal) {
      const url = urls[next++ % urls.length]!;
      const { status, body } = await postJsonPatiently<{ embeddings?: string[]; unknown_words?: string[][]; code?: string; detail?: string }>(
        `${url}/v1/encode`,
        { model: model.id, texts: [text], normalize: false, encoding_format: 'base64' },
        bearer(apiKey),
        signal,
      );
      if (status === 200) return { embedding: l2Normalize(base64ToFloats(body.embeddings![0]!)), unknownWords: body.unknown_words?.[0] ?? [] };
      if (body.code === 'invalid_text') throw new ServiceError('invalid_text', body.detail ?? 'invalid text');
      throw new Error(`${url}/v1/encode answered ${status}: ${body.detail ?? ''}`);
    },
  };
}

export interface TextJobOptions {
  readonly file: string;
  readonly out: string;
  readonly shard: ShardSelection;
  readonly shardSize: number;
  readonly command: readonly string[];
  readonly createdBy: string;
}

export interface TextSummary {
  readonly units: number;
  readonly unitsResumed: number;
  readonly rows: number;
  readonly errors: number;
  readonly seconds: number;
  readonly merge: MergeResult;
}

/** Number of lines and sha256 of the file (the plan's identity). */
async function scan(file: string): Promise<{ lines: number; sha256: string }> {
  const hash = createHash('sha256');
  let lines = 0;
  try {
    const stream = createReadStream(file);
    stream.on('data', (chunk) => hash.update(chunk));
    for await (const _line of createInterface({ input: stream, crlfDelay: Infinity })) lines++;
  } catch (error) {
    throw new InputError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return { lines, sha256: hash.digest('hex') };
}

type Event = { kind: 'start'; unit: number } | { kind: 'line'; unit: number; line: number; text: string } | { kind: 'end'; unit: number };

async function* lineEvents(file: string, units: ReadonlySet<number>, shardSize: number): AsyncGenerator<Event> {
  let line = 0;
  let open: number | undefined;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    const unit = Math.floor(line / shardSize);
    line++;
    if (open !== undefined && open !== unit) {
      yield { kind: 'end', unit: open };
      open = undefined;
    }
    if (!units.has(unit)) continue;
    if (open === undefined) {
      open = unit;
      yield { kind: 'start', unit };
    }
    yield { kind: 'line', unit, line, text };
  }
  if (open !== undefined) yield { kind: 'end', unit: open };
}

const COLUMNS = [
  flatColumn('line', { type: 'INT32' }),
  flatColumn('text', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  listColumn('embedding', { type: 'FLOAT' }, 'UNCOMPRESSED'),
  listColumn('unknown_words', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
];

export async function runTextJob(encoder: TextEncoder, options: TextJobOptions, context: { progress: ProgressReporter; signal: AbortSignal }): Promise<TextSummary> {
  const started = performance.now();
  const startedAt = new Date();
  const out = new OutputDir(options.out);
  await out.prepare();
  const { lines, sha256 } = await scan(options.file);
  const units = Math.ceil(lines / options.shardSize);
  const plan: PlanRecord = withFingerprint({
    format: DATASET_FORMAT,
    format_version: DATASET_FORMAT_VERSION,
    kind: 'text-embeddings',
    model: { id: encoder.model.id, bundle_sha256: encoder.model.bundleSha256, embedding_dim: encoder.model.embeddingDim },
    columns: [
      { name: 'line', type: 'int32', nullable: false, description: 'line number in the input file, from 1' },
      { name: 'text', type: 'string', nullable: false, description: 'the line as read (without its line break)' },
      { name: 'embedding', type: 'list<float32>', nullable: false, description: `${encoder.model.embeddingDim} floats: the L2-normalised text embedding` },
      { name: 'unknown_words', type: 'list<string>', nullable: false, description: "words the model's tokenizer could not represent" },
    ],
    options: { shard_size: options.shardSize },
    inputs: [options.file],
    units,
    units_sha256: sha256,
    created_by: options.createdBy,
  });
  await claimPlan(out, plan);
  const mine = Array.from({ length: units }, (_, unit) => unit).filter((unit) => inPart(unit, options.shard));
  const complete = await out.completedUnits();
  const pending = new Set(mine.filter((unit) => !complete.has(unit)));
  await out.removeStaleTemporaries(pending);

  let writer: ShardWriter | undefined;
  let errors: ErrorRecord[] = [];
  const work = async (event: Event): Promise<EncodedLine | ServiceError | undefined> => {
    if (event.kind !== 'line') return undefined;
    // Refused here, before either encoder: the service's schema and its engine word it differently.
    if (event.text === '') return new ServiceError('invalid_text', 'the line is empty');
    try {
      return await encoder.encode(event.text, context.signal);
    } catch (error) {
      if (isServiceError(error) && error.code === 'invalid_text') return error;
      throw error;
    }
  };
  const sink = async (event: Event, result: EncodedLine | ServiceError | undefined) => {
    if (event.kind === 'start') {
      writer = await ShardWriter.open(out.shardPath(event.unit), COLUMNS, 1000);
      errors = [];
      context.progress.unitStarted(shardName(event.unit), Math.min(options.shardSize, lines - event.unit * options.shardSize));
    } else if (event.kind === 'line') {
      if (result instanceof ServiceError) {
        errors.push({ key: String(event.line), source: options.file, member: null, code: result.code, detail: stripField(result.message) });
      } else {
        await writer!.append({ line: event.line, text: event.text, embedding: Array.from(result!.embedding), unknown_words: [...result!.unknownWords] });
      }
      context.progress.imageDone(result instanceof ServiceError);
    } else {
      if (errors.length > 0) await out.writeAtomic(out.unitErrorsPath(event.unit), errorLines(errors));
      else await out.remove(out.unitErrorsPath(event.unit));
      await writer!.commit();
      writer = undefined;
      context.progress.unitDone();
    }
  };
  context.progress.begin(pending.size);
  try {
    await runOrdered(lineEvents(options.file, pending, options.shardSize), work, sink, { window: encoder.concurrency, signal: context.signal });
  } catch (error) {
    await writer?.abort();
    throw error;
  } finally {
    context.progress.end();
  }
  const stats = [];
  for (const unit of mine) stats.push(await unitStats(out, unit));
  const part: PartRecord = {
    part: { index: options.shard.index, count: options.shard.count },
    fingerprint: plan.fingerprint,
    command: options.command,
    execution_provider: encoder.model.executionProvider,
    started: startedAt.toISOString(),
    finished: new Date().toISOString(),
    units: stats,
    duplicates_reused: 0,
  };
  await out.writeAtomic(out.partPath(options.shard.index, options.shard.count), `${JSON.stringify(part, null, 2)}\n`);
  return {
    units: mine.length,
    unitsResumed: mine.length - pending.size,
    rows: stats.reduce((s, u) => s + u.rows, 0),
    errors: stats.reduce((s, u) => s + u.errors, 0),
    seconds: (performance.now() - started) / 1000,
    merge: await writeManifestIfComplete(out),
  };
}
