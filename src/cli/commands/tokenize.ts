/** `toklip tokenize INPUT... --out DIR`: images to token ids (and embeddings, features) in Parquet shards. */
import { ENGINE_HELP, commandLogger, engineFlagOptions, loadEngineConfig } from '../engine-settings.js';
import { EXIT, type CliIO, UsageError } from '../io.js';
import { startLocalEngine, type LocalEngine } from '../local-engine.js';
import { integerOption, JOB_OPTIONS, maxErrors, numberOption, parse, progressReporter, serverUrls, stringOption } from '../options.js';
import { EngineMapper } from '../../datasets/engine-mapper.js';
import { HttpMapper } from '../../datasets/http-mapper.js';
import type { ImageMapper } from '../../datasets/mapper.js';
import { selectShard } from '../../datasets/sharding.js';
import { type TokenizeSummary, prepareTokenize, runTokenize } from '../../datasets/tokenize-job.js';
import { shortPath, versionLine } from '../version.js';

export const TOKENIZE_HELP = `Usage: toklip tokenize INPUT... --out DIR [options]

Images to token ids, one Parquet row per image (docs/datasets.md). INPUT: a folder (recursive),
a WebDataset tar shard (.tar, .tar.gz; brace patterns such as 'data-{000..099}.tar'), a list
file (one image path a line) or image files. Resumable: run the same command again after an
interruption; complete shards are kept, the rest is computed.

Options:
  --out DIR                 output folder (created; shards, manifest.json, errors.jsonl)
  --model ID                model (default: the default model)
  --embeddings              also the pooled image embedding (L2-normalised, float32)
  --features                also the per-token features (float32, [N, D] row-major)
  --shard I/N               compute part I of N (0-based) of the shards; default: all, or
                            JOB_COMPLETION_INDEX / JOB_COMPLETIONS in a Kubernetes Indexed Job
  --shard-size N            images per shard for folders and lists (default 10000; a tar is one shard)
  --server URL[,URL...]     use running toklip-serve replicas instead of a model in this process
  --api-key KEY             Bearer key for --server (servers with TOKLIP_API_KEYS)
  --max-errors N|P%         bad images allowed before the exit status is 3 (default 0)
  --dedupe-mb MB            memory for results of identical images (default 256; 0: off)
  --image-timeout S         longest time one image may take (default 600)
  --concurrency N           images in flight (default: enough for every worker and batch)
  --progress auto|bar|lines|off   bar on a terminal, else one line every --progress-interval
  --progress-interval S     seconds between progress lines (default 30)

Exit status: 0 done; 1 stopped (the message says why; the same command resumes);
2 bad usage; 3 done with more bad images than --max-errors; 130 interrupted.

${ENGINE_HELP}`;

const OPTIONS = {
  ...JOB_OPTIONS,
  embeddings: { type: 'boolean' },
  features: { type: 'boolean' },
  shard: { type: 'string' },
  'shard-size': { type: 'string' },
  'dedupe-mb': { type: 'string' },
  'image-timeout': { type: 'string' },
  concurrency: { type: 'string' },
  ...engineFlagOptions(),
} as const;

function summaryText(summary: TokenizeSummary, out: string, model: string, idType: string, allowed: number): string {
  const lines = [
    `toklip tokenize: ${summary.rows} images in ${summary.units} shard(s) of ${shortPath(out)} (model ${model}, ids ${idType})`,
    `  this run: ${summary.processed} images in ${summary.seconds.toFixed(1)} s (${(summary.processed / Math.max(summary.seconds, 1e-9)).toPrecision(3)} images/s)` +
      `${summary.unitsResumed > 0 ? `; ${summary.unitsResumed} shard(s) were already complete` : ''}` +
      `${summary.duplicatesReused > 0 ? `; ${summary.duplicatesReused} duplicate image(s) reused` : ''}`,
    `  bad images: ${summary.errors}${summary.errors > 0 ? ` (listed in ${shortPath(out)}/errors/; ${summary.errors > allowed ? `more than --max-errors ${allowed}` : `within --max-errors ${allowed}`})` : ''}`,
    summary.merge.complete
      ? `  dataset complete: ${summary.merge.rows} rows, ${summary.merge.errors} bad images; ${shortPath(out)}/manifest.json, ${shortPath(out)}/errors.jsonl`
      : `  waiting for other parts: ${summary.merge.missing.length} shard(s) missing; the last part to finish writes manifest.json (or run 'toklip merge ${shortPath(out)}')`,
  ];
  return `${lines.join('\n')}\n`;
}

export async function tokenizeCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(`${TOKENIZE_HELP}\n`);
    return EXIT.ok;
  }
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError('--out DIR is required');
  if (positionals.length === 0) throw new UsageError('name at least one INPUT (folder, tar shard, list file or image)');
  const servers = serverUrls(values);
  const config = loadEngineConfig(io.env, values);
  const options = {
    inputs: positionals,
    out,
    shard: selectShard(stringOption(values, 'shard'), io.env),
    shardSize: integerOption(values, 'shard-size', 10_000),
    embeddings: values.embeddings === true,
    features: values.features === true,
    readerLimits: { maxBytes: config.bodyLimitBytes },
    dedupeBytes: numberOption(values, 'dedupe-mb', 256) * 1024 * 1024,
    command: ['toklip', 'tokenize', ...argv],
    createdBy: versionLine(),
  };
  const allowedErrors = maxErrors(values);
  const progress = progressReporter(values, io);
  const concurrency = stringOption(values, 'concurrency') === undefined ? undefined : integerOption(values, 'concurrency', 1);

  // Inputs and the output folder are checked before any model is loaded.
  const prepared = await prepareTokenize(options);
  let local: LocalEngine | undefined;
  let mapper: ImageMapper;
  if (servers !== undefined) {
    mapper = await HttpMapper.create(servers, { model: stringOption(values, 'model'), embeddings: options.embeddings, features: options.features, apiKey: stringOption(values, 'api-key') });
  } else {
    local = await startLocalEngine(config, commandLogger(config, io.env, values));
    mapper = await EngineMapper.create(local.engine, local.layout, {
      model: stringOption(values, 'model'),
      embeddings: options.embeddings,
      features: options.features,
      imageTimeoutMs: numberOption(values, 'image-timeout', 600) * 1000,
      queueLimit: config.queueLimit,
      imageThreads: config.imageThreads,
    });
  }
  try {
    const windowed: ImageMapper = concurrency === undefined ? mapper : { model: mapper.model, concurrency, map: (b, s) => mapper.map(b, s), close: () => mapper.close() };
    const summary = await runTokenize(prepared, windowed, { progress, signal: io.signal });
    const allowed = allowedErrors(summary.rows + summary.errors);
    io.stdout.write(summaryText(summary, out, mapper.model.id, mapper.model.codebookSize <= 65536 ? 'uint16' : 'uint32', allowed));
    return summary.errors > allowed ? EXIT.badImages : EXIT.ok;
  } finally {
    await mapper.close();
    await local?.close();
  }
}
