/**
 * The reader's plan: command-line inputs -> an ordered list of units, each of which becomes one
 * output shard. The plan depends only on the inputs and the shard size, so every machine that
 * runs a part of a job computes the same plan and the same shard numbers.
 *
 *   folder        image files below it, recursively, in code-unit order of their relative
 *                 paths; cut into units of `shardSize` files
 *   tar shard     one unit per archive (`.tar`, `.tar.gz`, `.tgz`); brace patterns such as
 *                 `data-{000..099}.tar` are expanded here, for arguments that reach us quoted
 *   list file     any other file: one image path per line (relative to the list's folder;
 *                 blank lines and lines starting with # skipped); cut into units of `shardSize`
 *   image file    an argument with an image extension; consecutive ones form one list
 *
 * Keys follow WebDataset: a tar member's key is its name up to the first dot of its base name;
 * a file's key is its path (relative to its folder, or as listed) without its last extension.
 */
import { type Dirent, createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { dirname, extname, isAbsolute, join, sep } from 'node:path';
import braces from 'braces';

/** Extensions of image members and files (lower case). Formats the service refuses (SVG, BMP, HEIC...) are read too: each gets its row in the errors file. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  'jpg', 'jpeg', 'jpe', 'jfif', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif',
  'svg', 'bmp', 'heic', 'heif', 'jxl', 'jp2', 'ico', 'psd', 'ppm', 'pgm', 'pbm', 'pnm',
]);

const TAR_NAME = /\.(tar|tar\.gz|tgz)$/i;

export function isImageName(name: string): boolean {
  const ext = extname(name).slice(1).toLowerCase();
  return IMAGE_EXTENSIONS.has(ext);
}

/** WebDataset's key of a tar member: the path up to the first dot of its base name. */
export function memberKey(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot === -1 ? name : name.slice(0, dot);
}

/** A file's key: its path with '/' separators, without its last extension. */
export function fileKey(path: string): string {
  const posix = sep === '/' ? path : path.split(sep).join('/');
  const ext = extname(posix);
  return ext === '' ? posix : posix.slice(0, -ext.length);
}

export interface FileItem {
  /** Path to open (as given, or joined to its folder / list folder). */
  readonly path: string;
  readonly key: string;
}

export type Unit =
  | { readonly index: number; readonly kind: 'tar'; readonly path: string; readonly bytes: number }
  | { readonly index: number; readonly kind: 'files'; readonly files: readonly FileItem[]; readonly origin: string };

export interface Plan {
  readonly units: readonly Unit[];
  /** Inputs after brace expansion, as given. */
  readonly inputs: readonly string[];
}

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Expands brace patterns ({a,b}, {000..099}); other arguments stay as they are. */
export function expandInputs(args: readonly string[]): string[] {
  return args.flatMap((arg) => (/\{.*(,|\.\.).*\}/.test(arg) ? braces.expand(arg) : [arg]));
}

/** Code-unit order: the same on every machine, whatever its locale. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Image files below `root`, relative paths in code-unit order (file symlinks followed, directory symlinks not). */
async function walkFolder(root: string): Promise<string[]> {
  const found: string[] = [];
  async function visit(dir: string, prefix: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw new InputError(`cannot list ${dir}: ${(error as Error).message}`);
    }
    entries.sort((a, b) => byCodeUnits(a.name, b.name));
    for (const entry of entries) {
      const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) await visit(join(dir, entry.name), rel);
      else if ((entry.isFile() || entry.isSymbolicLink()) && isImageName(entry.name)) found.push(rel);
    }
  }
  await visit(root, '');
  // Sorting per directory orders 'a/x' against 'a-b/y' by directory name first; sort the whole
  // relative paths so that the order is the plain code-unit order of the paths.
  return found.sort(byCodeUnits);
}

async function readList(path: string): Promise<FileItem[]> {
  const base = dirname(path);
  const items: FileItem[] = [];
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    items.push({ path: isAbsolute(line) ? line : join(base, line), key: fileKey(line) });
  }
  return items;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * The plan of a run. Every input must exist; a folder or list without images adds no unit.
 * `shardSize`: files per unit for folders, lists and loose image files (tar shards are one unit each).
 */
export async function planInputs(args: readonly string[], shardSize: number): Promise<Plan> {
  if (!Number.isInteger(shardSize) || shardSize < 1) throw new InputError(`--shard-size must be a positive integer, got ${shardSize}`);
  const inputs = expandInputs(args);
  if (inputs.length === 0) throw new InputError('no inputs: name folders, tar shards or list files');
  const units: Unit[] = [];
  let loose: FileItem[] = [];
  const addFiles = (files: readonly FileItem[], origin: string) => {
    for (const files_ of chunk(files, shardSize)) units.push({ index: units.length, kind: 'files', files: files_, origin });
  };
  const flushLoose = () => {
    if (loose.length > 0) addFiles(loose, 'arguments');
    loose = [];
  };
  for (const input of inputs) {
    let info;
    try {
      info = await stat(input);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new InputError(code === 'ENOENT' ? `input not found: ${input}` : `cannot read input ${input}: ${(error as Error).message}`);
    }
    if (info.isDirectory()) {
      flushLoose();
      const files = await walkFolder(input);
      addFiles(files.map((rel) => ({ path: join(input, rel), key: fileKey(rel) })), input);
    } else if (TAR_NAME.test(input)) {
      flushLoose();
      units.push({ index: units.length, kind: 'tar', path: input, bytes: info.size });
    } else if (isImageName(input)) {
      loose.push({ path: input, key: fileKey(input) });
    } else {
      flushLoose();
      addFiles(await readList(input), input);
    }
  }
  flushLoose();
  return { units, inputs };
}

/** What identifies a unit's content in the plan fingerprint. */
export function unitIdentity(unit: Unit): unknown {
  return unit.kind === 'tar' ? { tar: unit.path, bytes: unit.bytes } : { files: unit.files.map((f) => [f.path, f.key]) };
}
