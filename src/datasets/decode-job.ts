/**
 * `toklip decode`: token rows -> image files, to look at what a generator made (or at what a
 * tokenizer keeps of a dataset). Each row becomes DIR/<key>.<format> (keys with folders make
 * sub-folders); files are written under a temporary name and renamed, and rows whose file
 * already exists are skipped, so an interrupted run resumes. Rows the model refuses (ids out of
 * the codebook, wrong length) are listed in DIR/errors.jsonl.
 */
import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ServiceError, isServiceError } from '../errors.js';
import { type Engine, createRequestContext } from '../engine/index.js';
import type { ReconstructionFormat } from '../images/index.js';
import type { ErrorRecord } from './manifest.js';
import { errorLines } from './manifest.js';
import { postJsonPatiently } from './http-post.js';
import { bearer } from './server-models.js';
import { OutputDir } from './output-dir.js';
import { runOrdered } from './pipeline.js';
import type { ProgressReporter } from './progress.js';
import { type TokenRow, tokenRows } from './token-sources.js';

export interface RowDecoder {
  readonly concurrency: number;
  decode(ids: readonly number[], signal: AbortSignal): Promise<Uint8Array>;
}

export interface DecodeOptions {
  readonly model?: string | undefined;
  readonly format: ReconstructionFormat;
  readonly quality: number;
}

export function engineDecoder(engine: Engine, options: DecodeOptions, concurrency: number, timeoutMs: number): RowDecoder {
  let calls = 0;
  return {
    concurrency,
    async decode(ids, signal) {
      const ctx = createRequestContext({ requestId: `decode-${++calls}`, timeoutMs, signal });
      try {
        const result = await engine.decode({ model: options.model, rows: [ids], format: options.format, quality: options.quality }, ctx);
        return result.value[0]!.data;
      } finally {
        ctx.close();
      }
    },
  };
}

export function httpDecoder(urls: readonly string[], options: DecodeOptions, apiKey: string | undefined): RowDecoder {
  let next = 0;
  return {
    concurrency: 8 * urls.length,
    async decode(ids, signal) {
      const url = urls[next++ % urls.length]!;
      const { status, body } = await postJsonPatiently<{ images?: { data: string }[]; code?: string; detail?: string }>(
        `${url}/v1/decode`,
        { ...(options.model ? { model: options.model } : {}), tokens: [ids], format: options.format, quality: options.quality },
        bearer(apiKey),
        signal,
      );
      if (status === 200) return Buffer.from(body.images![0]!.data, 'base64');
      if (body.code === 'invalid_tokens') throw new ServiceError('invalid_tokens', (body.detail ?? '').replace(/^tokens\[\d+\]/, 'ids'));
      throw new Error(`${url}/v1/decode answered ${status}: ${body.detail ?? ''}`);
    },
  };
}

/** A key as a relative path below the output folder: no absolute paths, no '..', no empty parts. */
export function keyPath(key: string): string {
  const parts = key.split(/[\\/]+/).filter((p) => p !== '' && p !== '.' && p !== '..');
  return parts.length === 0 ? '_' : parts.join('/');
}

export interface DecodeSummary {
  readonly rows: number;
  readonly written: number;
  readonly skipped: number;
  readonly errors: number;
  readonly seconds: number;
}

export async function runDecode(
  inputs: readonly string[],
  outDir: string,
  decoder: RowDecoder,
  options: DecodeOptions,
  context: { readonly progress: ProgressReporter; readonly signal: AbortSignal },
): Promise<DecodeSummary> {
  const started = performance.now();
  const out = new OutputDir(outDir);
  await mkdir(outDir, { recursive: true });
  await out.writeAtomic(join(outDir, '.write-probe'), '');
  await out.remove(join(outDir, '.write-probe'));
  const extension = options.format === 'jpeg' ? 'jpg' : options.format;
  const errors: ErrorRecord[] = [];
  let rows = 0;
  let written = 0;
  let skipped = 0;
  const target = (row: TokenRow) => join(outDir, `${keyPath(row.key)}.${extension}`);
  const work = async (row: TokenRow): Promise<Uint8Array | ServiceError | null> => {
    const path = target(row);
    if (await access(path).then(() => true, () => false)) return null;
    try {
      return await decoder.decode(row.ids, context.signal);
    } catch (error) {
      if (isServiceError(error) && error.code === 'invalid_tokens') return error;
      throw error;
    }
  };
  const sink = async (row: TokenRow, result: Uint8Array | ServiceError | null) => {
    rows++;
    if (result === null) skipped++;
    else if (result instanceof ServiceError) errors.push({ key: row.key, source: row.key, member: null, code: result.code, detail: result.message });
    else {
      const path = target(row);
      await mkdir(dirname(path), { recursive: true });
      await out.writeAtomic(path, result);
      written++;
    }
    context.progress.imageDone(result instanceof ServiceError);
  };
  context.progress.begin(1);
  context.progress.unitStarted('images', undefined);
  try {
    await runOrdered(tokenRows(inputs), work, sink, { window: decoder.concurrency, signal: context.signal });
    context.progress.unitDone();
  } finally {
    context.progress.end();
  }
  await out.writeAtomic(join(outDir, 'errors.jsonl'), errorLines(errors));
  return { rows, written, skipped, errors: errors.length, seconds: (performance.now() - started) / 1000 };
}
