/** `toklip embed-texts FILE --out DIR`: one caption a line to text embeddings in Parquet shards. */
import { replicaModelCard } from '../../datasets/server-models.js';
import { selectShard } from '../../datasets/sharding.js';
import { type TextEncoder, engineTextEncoder, httpTextEncoder, runTextJob } from '../../datasets/text-job.js';
import { ENGINE_HELP, commandLogger, engineFlagOptions, loadEngineConfig } from '../engine-settings.js';
import { EXIT, type CliIO, UsageError } from '../io.js';
import { type LocalEngine, startLocalEngine } from '../local-engine.js';
import { integerOption, JOB_OPTIONS, maxErrors, parse, progressReporter, serverUrls, stringOption } from '../options.js';
import { shortPath, versionLine } from '../version.js';

export const EMBED_TEXTS_HELP = `Usage: toklip embed-texts FILE --out DIR [options]

One text a line to L2-normalised text embeddings: Parquet shards with columns line, text,
embedding, unknown_words (docs/datasets.md). Lines the model refuses are listed in the errors
file; resumable like tokenize.

Options:
  --out DIR                 output folder
  --model ID                model (default: the default model)
  --shard I/N               part I of N of the shards (or JOB_COMPLETION_INDEX / JOB_COMPLETIONS)
  --shard-size N            lines per shard (default 100000)
  --server URL[,URL...]     use running toklip-serve replicas
  --api-key KEY             Bearer key for --server
  --max-errors N|P%         refused lines allowed before the exit status is 3 (default 0)
  --progress auto|bar|lines|off, --progress-interval S

${ENGINE_HELP}`;

const OPTIONS = {
  ...JOB_OPTIONS,
  shard: { type: 'string' },
  'shard-size': { type: 'string' },
  ...engineFlagOptions(),
} as const;

export async function embedTextsCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(`${EMBED_TEXTS_HELP}\n`);
    return EXIT.ok;
  }
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError('--out DIR is required');
  if (positionals.length !== 1) throw new UsageError('name exactly one FILE of texts (one a line)');
  const options = {
    file: positionals[0]!,
    out,
    shard: selectShard(stringOption(values, 'shard'), io.env),
    shardSize: integerOption(values, 'shard-size', 100_000),
    command: ['toklip', 'embed-texts', ...argv],
    createdBy: versionLine(),
  };
  const allowed = maxErrors(values);
  const progress = progressReporter(values, io);
  const servers = serverUrls(values);
  const modelId = stringOption(values, 'model');
  let local: LocalEngine | undefined;
  try {
    let encoder: TextEncoder;
    if (servers !== undefined) {
      const apiKey = stringOption(values, 'api-key');
      const card = await replicaModelCard(servers, modelId, apiKey, ['encode_text']);
      encoder = httpTextEncoder(servers, { id: card.id, bundleSha256: card.bundle_sha256 ?? null, embeddingDim: card.embedding_dim, executionProvider: servers.join(',') }, apiKey);
    } else {
      const config = loadEngineConfig(io.env, values);
      local = await startLocalEngine(config, commandLogger(config, io.env, values));
      const bundle = local.engine.resolveModel(modelId, 'encode_text');
      const model = { id: bundle.id, bundleSha256: bundle.digest, embeddingDim: bundle.embeddingDim, executionProvider: local.engine.provider };
      encoder = engineTextEncoder(local.engine, model, Math.min(config.queueLimit, 4 * local.layout.maxBatch * local.layout.workers), 600_000);
    }
    const summary = await runTextJob(encoder, options, { progress, signal: io.signal });
    io.stdout.write(
      `toklip embed-texts: ${summary.rows} texts in ${summary.units} shard(s) of ${shortPath(out)} (model ${encoder.model.id}, ${encoder.model.embeddingDim} dims), ` +
        `${summary.errors} refused line(s), ${summary.seconds.toFixed(1)} s` +
        `${summary.merge.complete ? `; ${shortPath(out)}/manifest.json` : `; waiting for ${summary.merge.missing.length} shard(s) of other parts`}\n`,
    );
    return summary.errors > allowed(summary.rows + summary.errors) ? EXIT.badImages : EXIT.ok;
  } finally {
    await local?.close();
  }
}
