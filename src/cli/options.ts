/**
 * Command-line parsing shared by the subcommands: node:util parseArgs (strict: an unknown or
 * misspelt flag is an error, never ignored), plus the value checks the flags need.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ProgressReporter } from '../datasets/progress.js';
import { type CliIO, UsageError } from './io.js';

export type OptionTable = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

export function parse(argv: readonly string[], options: OptionTable): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: { help: { type: 'boolean', short: 'h' }, ...options }, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function stringOption(values: Parsed['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function integerOption(values: Parsed['values'], name: string, fallback: number, min = 1): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min) throw new UsageError(`--${name} '${text}': expected an integer >= ${min}`);
  return Number(text);
}

export function numberOption(values: Parsed['values'], name: string, fallback: number): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) throw new UsageError(`--${name} '${text}': expected a non-negative number`);
  return value;
}

export function choiceOption<T extends string>(values: Parsed['values'], name: string, choices: readonly T[], fallback: T): T {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`--${name} '${text}': expected one of ${choices.join(', ')}`);
  return text as T;
}

/** --server http://a:8080,http://b:8080 (repeatable): URLs without a trailing slash. */
export function serverUrls(values: Parsed['values']): string[] | undefined {
  const raw = values.server;
  const list = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) return undefined;
  return list.map((url) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--server '${url}': not a URL (e.g. http://localhost:8080)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--server '${url}': http:// or https:// only`);
    return url.replace(/\/+$/, '');
  });
}

/** --max-errors N or P% of the images: the most bad images a run may have and still exit 0. */
export function maxErrors(values: Parsed['values']): (images: number) => number {
  const text = stringOption(values, 'max-errors') ?? '0';
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) return (images) => Math.floor((Number(percent[1]) / 100) * images);
  if (/^\d+$/.test(text)) return () => Number(text);
  throw new UsageError(`--max-errors '${text}': expected a count (e.g. 10) or a percentage of the images (e.g. 1%)`);
}

/** The flags every dataset command takes: output, model, --server replicas, error allowance, progress. */
export const JOB_OPTIONS = {
  out: { type: 'string' },
  model: { type: 'string' },
  server: { type: 'string', multiple: true },
  'api-key': { type: 'string' },
  'max-errors': { type: 'string' },
  progress: { type: 'string' },
  'progress-interval': { type: 'string' },
} as const satisfies OptionTable;

/** The progress reporter --progress and --progress-interval ask for, on stderr. */
export function progressReporter(values: Parsed['values'], io: CliIO): ProgressReporter {
  const mode = ProgressReporter.modeFor(choiceOption(values, 'progress', ['auto', 'bar', 'lines', 'off'] as const, 'auto'), io.stderr);
  return new ProgressReporter(mode, io.stderr, numberOption(values, 'progress-interval', 30) * 1000);
}
