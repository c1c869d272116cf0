/**
 * Joining parts: parts that wrote into one shared folder need nothing but the manifest (the
 * last part to finish writes it; `toklip merge DIR` writes it too). Parts written to separate
 * folders (machines without a shared volume) are copied into one folder first: their plans must
 * be the same plan, their shards are copied under their own names (errors file first, the
 * shard last, each atomically), then the manifest is written once every shard is there.
 */
import { access, copyFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type MergeResult, claimPlan, readPlan, writeManifestIfComplete } from './manifest.js';
import { OutputError } from './output-errors.js';
import { OutputDir } from './output-dir.js';
import { temporaryPath } from './parquet-shard.js';

async function copyAtomic(from: string, to: string): Promise<void> {
  const temp = temporaryPath(to);
  try {
    await copyFile(from, temp);
    await rename(temp, to);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw OutputError.from(error, `copy ${from} to ${to}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function names(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => pattern.test(name)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw OutputError.from(error, `list ${dir}`);
  }
}

/** Copies one part folder's plan, part records, errors files and shards into `target`. */
async function copyPart(target: OutputDir, source: OutputDir): Promise<void> {
  const plan = await readPlan(source);
  if (plan === undefined) throw new OutputError(`${source.root} holds no dataset part (no parts/plan.json)`);
  await claimPlan(target, plan);
  for (const name of await names(join(source.root, 'parts'), /^part-\d+-of-\d+\.json$/)) {
    await copyAtomic(join(source.root, 'parts', name), join(target.root, 'parts', name));
  }
  const done = await target.completedUnits();
  for (const unit of [...(await source.completedUnits())].sort((a, b) => a - b)) {
    if (done.has(unit)) continue;
    if (await exists(source.unitErrorsPath(unit))) await copyAtomic(source.unitErrorsPath(unit), target.unitErrorsPath(unit));
    else await target.remove(target.unitErrorsPath(unit));
    await copyAtomic(source.shardPath(unit), target.shardPath(unit));
  }
}

export async function mergeDatasets(targetDir: string, partDirs: readonly string[]): Promise<MergeResult> {
  const target = new OutputDir(targetDir);
  await target.prepare();
  for (const dir of partDirs) await copyPart(target, new OutputDir(dir));
  return writeManifestIfComplete(target);
}
