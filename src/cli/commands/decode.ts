/** `toklip decode TOKENS... --out DIR`: token rows back to image files. */
import { engineDecoder, httpDecoder, runDecode } from '../../datasets/decode-job.js';
import { replicaModelCard } from '../../datasets/server-models.js';
import { ENGINE_HELP, commandLogger, engineFlagOptions, loadEngineConfig } from '../engine-settings.js';
import { EXIT, type CliIO, UsageError } from '../io.js';
import { type LocalEngine, startLocalEngine } from '../local-engine.js';
import { choiceOption, integerOption, JOB_OPTIONS, maxErrors, parse, progressReporter, serverUrls, stringOption } from '../options.js';
import { shortPath } from '../version.js';

export const DECODE_HELP = `Usage: toklip decode TOKENS... --out DIR [options]

Token ids back to images: DIR/<key>.<format> per row. TOKENS: a 'toklip tokenize' output
folder, one of its .parquet shards (columns key, ids), or a .npy file of ids [rows, N]
(uint8/16/32/64 or int16/32/64; keys <file name>-<row>). Rows whose file exists are skipped
(resume); refused rows are listed in DIR/errors.jsonl.

Options:
  --out DIR                 output folder
  --format png|jpeg|webp    (default png)
  --quality Q               jpeg/webp quality 1-100 (default 90)
  --model ID                model (default: the default model)
  --server URL[,URL...]     use running toklip-serve replicas
  --api-key KEY             Bearer key for --server
  --max-errors N|P%         refused rows allowed before the exit status is 3 (default 0)
  --progress auto|bar|lines|off, --progress-interval S

${ENGINE_HELP}`;

const OPTIONS = {
  ...JOB_OPTIONS,
  format: { type: 'string' },
  quality: { type: 'string' },
  ...engineFlagOptions(),
} as const;

export async function decodeCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(`${DECODE_HELP}\n`);
    return EXIT.ok;
  }
  const out = stringOption(values, 'out');
  if (out === undefined) throw new UsageError('--out DIR is required');
  if (positionals.length === 0) throw new UsageError('name the token ids to decode (a tokenize output folder, .parquet or .npy)');
  const options = {
    model: stringOption(values, 'model'),
    format: choiceOption(values, 'format', ['png', 'jpeg', 'webp'] as const, 'png'),
    quality: integerOption(values, 'quality', 90),
  };
  if (options.quality > 100) throw new UsageError(`--quality ${options.quality}: expected 1-100`);
  const allowed = maxErrors(values);
  const progress = progressReporter(values, io);
  const servers = serverUrls(values);
  let local: LocalEngine | undefined;
  try {
    let decoder;
    if (servers !== undefined) {
      // Checked before any row is sent: every replica serves the model, and the same bundle.
      const apiKey = stringOption(values, 'api-key');
      const card = await replicaModelCard(servers, options.model, apiKey, ['decode']);
      decoder = httpDecoder(servers, { ...options, model: card.id }, apiKey);
    } else {
      const config = loadEngineConfig(io.env, values);
      local = await startLocalEngine(config, commandLogger(config, io.env, values));
      decoder = engineDecoder(local.engine, options, Math.min(config.queueLimit, 2 * local.layout.maxBatch * local.layout.workers), 600_000);
    }
    const summary = await runDecode(positionals, out, decoder, options, { progress, signal: io.signal });
    io.stdout.write(
      `toklip decode: ${summary.written} image(s) written to ${shortPath(out)}, ${summary.skipped} already there, ` +
        `${summary.errors} refused row(s)${summary.errors > 0 ? ` (${shortPath(out)}/errors.jsonl)` : ''}, ${summary.seconds.toFixed(1)} s\n`,
    );
    return summary.errors > allowed(summary.rows) ? EXIT.badImages : EXIT.ok;
  } finally {
    await local?.close();
  }
}
