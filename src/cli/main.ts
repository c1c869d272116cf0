/**
 * The `toklip` command: dataset jobs on the engine in this process (or on running replicas
 * with --server), and the service itself. bin/toklip.mjs starts this module (compiled from
 * dist/, or from the sources through tsx in a clone).
 *
 *   toklip tokenize INPUT... --out DIR    images -> token ids (+ embeddings, features), Parquet
 *   toklip decode TOKENS... --out DIR     token ids -> image files
 *   toklip embed-texts FILE --out DIR     captions -> text embeddings, Parquet
 *   toklip merge DIR [PART_DIR...]        parts of a dataset -> one dataset with its manifest
 *   toklip serve [flags]                  the HTTP service, as npm start
 */
import { ConfigError } from '../config/index.js';
import { InputError } from '../datasets/inputs.js';
import { OutputError } from '../datasets/output-errors.js';
import { ServerError } from '../datasets/http-post.js';
import { ShardError } from '../datasets/sharding.js';
import { isServiceError } from '../errors.js';
import { BundleError } from '../models/registry.js';
import { DeviceError } from '../inference/device.js';
import { StartupError } from '../inference/pool.js';
import { decodeCommand } from './commands/decode.js';
import { embedTextsCommand } from './commands/embed-texts.js';
import { mergeCommand } from './commands/merge.js';
import { serveCommand } from './commands/serve.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { EXIT, type CliIO, UsageError } from './io.js';
import { versionLine } from './version.js';

export const HELP = `Usage: toklip COMMAND [options]       (toklip COMMAND --help for each)

Commands:
  tokenize INPUT... --out DIR    images (folders, WebDataset tar shards, list files) to token ids,
                                 and with --embeddings / --features the image embeddings and
                                 per-token features, as Parquet shards; resumable, --shard I/N
  decode TOKENS... --out DIR     token ids (a tokenize output, a .parquet or .npy file) to images
  embed-texts FILE --out DIR     one caption a line to text embeddings, as Parquet shards
  merge DIR [PART_DIR...]        join the parts of a dataset and write its manifest
  serve [flags]                  start the HTTP service (as npm start)

Options: --help, --version. Dataset commands run the model in this process (the service's
TOKLIP_* settings apply) or, with --server URL[,URL...], on running toklip-serve replicas.
Documentation: docs/datasets.md.`;

type Command = (argv: readonly string[], io: CliIO) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  tokenize: tokenizeCommand,
  decode: decodeCommand,
  'embed-texts': embedTextsCommand,
  merge: mergeCommand,
};

/** Failures that end a run with a message and no stack trace: the user can act on them. */
function explained(error: unknown): string | undefined {
  if (error instanceof ConfigError || error instanceof BundleError) return error.message;
  if (
    error instanceof OutputError ||
    error instanceof InputError ||
    error instanceof ServerError ||
    error instanceof DeviceError ||
    error instanceof StartupError
  ) {
    return error.message;
  }
  if (isServiceError(error)) return `${error.code}: ${error.message}`;
  return undefined;
}

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${HELP}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${versionLine()}\n`);
    return EXIT.ok;
  }
  if (name === 'serve') {
    await serveCommand(rest, (text) => io.stdout.write(text));
    return EXIT.ok;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr.write(`toklip: unknown command '${name}'\n\n${HELP}\n`);
    return EXIT.usage;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    if (io.signal.aborted) {
      io.stderr.write(`toklip ${name}: interrupted; complete shards are kept, run the same command again to resume\n`);
      return EXIT.interrupted;
    }
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof ShardError) {
      io.stderr.write(`toklip ${name}: ${error.message}\n(toklip ${name} --help lists the options)\n`);
      return EXIT.usage;
    }
    const message = explained(error);
    if (message === undefined) throw error;
    io.stderr.write(`toklip ${name}: ${message}\n`);
    return EXIT.failed;
  }
}
