/** `toklip merge DIR [PART_DIR...]`: the parts of a dataset joined, and its manifest written. */
import { mergeDatasets } from '../../datasets/merge.js';
import { EXIT, type CliIO, UsageError } from '../io.js';
import { parse } from '../options.js';
import { shortPath } from '../version.js';

export const MERGE_HELP = `Usage: toklip merge DIR [PART_DIR...]

Writes DIR/manifest.json and DIR/errors.jsonl once every shard of the dataset is in DIR.
Parts run with --shard I/N into one shared DIR need only this (the last part to finish does
it already); parts written to separate folders are copied into DIR first (same plan required).
Exit status 1 names the shards still missing.`;

export async function mergeCommand(argv: readonly string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) {
    io.stdout.write(`${MERGE_HELP}\n`);
    return EXIT.ok;
  }
  const [target, ...parts] = positionals;
  if (target === undefined) throw new UsageError('name the dataset folder DIR');
  const result = await mergeDatasets(target, parts);
  if (!result.complete) {
    const shown = result.missing.slice(0, 20).join(', ');
    io.stderr.write(`toklip merge: ${result.missing.length} shard(s) missing in ${shortPath(target)} (units ${shown}${result.missing.length > 20 ? ', ...' : ''}): run their parts first\n`);
    return EXIT.failed;
  }
  io.stdout.write(`toklip merge: ${result.rows} rows, ${result.errors} bad images; ${shortPath(target)}/manifest.json, ${shortPath(target)}/errors.jsonl\n`);
  return EXIT.ok;
}
