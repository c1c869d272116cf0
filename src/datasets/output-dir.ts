/**
 * The output folder of a dataset command and its layout:
 *
 *   DIR/data/shard-00000.parquet   one per unit of the plan, present only when complete (the
 *                                  folder holds nothing else: readers open it as one dataset)
 *   DIR/errors/shard-00000.jsonl   that unit's bad images (only units that have some)
 *   DIR/parts/plan.json            what the run computes (identical for every part)
 *   DIR/parts/part-00000-of-00001.json  one per finished part (--shard I/N)
 *   DIR/manifest.json              the dataset, once every part has finished
 *   DIR/errors.jsonl               every bad image, in dataset order, with the manifest
 *
 * Everything is written to a hidden temporary name and renamed, so that a file under its final
 * name is always complete; a unit counts as done exactly when its shard exists.
 */
import { mkdir, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OutputError } from './output-errors.js';
import { temporaryPath } from './parquet-shard.js';

const SHARD = /^shard-(\d+)\.parquet$/;
const TEMP = /^\.shard-(\d+)\.(parquet|jsonl)\..+\.tmp$/;

export function shardName(unit: number): string {
  return `shard-${String(unit).padStart(5, '0')}.parquet`;
}

export function partName(index: number, count: number): string {
  return `part-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.json`;
}

export class OutputDir {
  constructor(readonly root: string) {}

  get dataDir(): string {
    return join(this.root, 'data');
  }

  shardPath(unit: number): string {
    return join(this.dataDir, shardName(unit));
  }

  unitErrorsPath(unit: number): string {
    return join(this.root, 'errors', shardName(unit).replace(/\.parquet$/, '.jsonl'));
  }

  get planPath(): string {
    return join(this.root, 'parts', 'plan.json');
  }

  partPath(index: number, count: number): string {
    return join(this.root, 'parts', partName(index, count));
  }

  get manifestPath(): string {
    return join(this.root, 'manifest.json');
  }

  get errorsPath(): string {
    return join(this.root, 'errors.jsonl');
  }

  /** Creates the folders and proves that files can be created and renamed there, before any work. */
  async prepare(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
    } catch (error) {
      throw OutputError.from(error, `create the output folder ${this.root}`);
    }
    const probe = join(this.root, `.write-probe-${process.pid}.tmp`);
    try {
      await writeFile(probe, '');
      await rename(probe, `${probe}.renamed`);
      await unlink(`${probe}.renamed`);
      await mkdir(this.dataDir, { recursive: true });
      await mkdir(join(this.root, 'errors'), { recursive: true });
      await mkdir(join(this.root, 'parts'), { recursive: true });
    } catch (error) {
      await rm(probe, { force: true }).catch(() => undefined);
      throw OutputError.from(error, `write to the output folder ${this.root}`);
    }
  }

  /** Units whose shard is complete. */
  async completedUnits(): Promise<Set<number>> {
    const names = await readdir(this.dataDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw OutputError.from(error, `list ${this.dataDir}`);
    });
    return new Set(names.flatMap((name) => {
      const match = SHARD.exec(name);
      return match ? [Number(match[1])] : [];
    }));
  }

  /** Removes temporary files an interrupted run left for these units (other parts' units are left alone). */
  async removeStaleTemporaries(units: ReadonlySet<number>): Promise<void> {
    for (const dir of [this.dataDir, join(this.root, 'errors')]) {
      for (const name of await readdir(dir)) {
        const match = TEMP.exec(name);
        if (match && units.has(Number(match[1]))) await rm(join(dir, name), { force: true });
      }
    }
  }

  /** Writes a file under a temporary name, then renames it. */
  async writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
    const temp = temporaryPath(path);
    try {
      await writeFile(temp, data, { flush: true });
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw OutputError.from(error, `write ${path}`);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw OutputError.from(error, `remove ${path}`);
    }
  }
}
