/** The package's name and version (for --version and the records a run writes), and short paths for messages. */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function versionLine(): string {
  return `toklip-serve ${packageVersion()}`;
}

/** A path relative to the current folder when it lies below it, else as given. */
export function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
}
