/**
 * The engine settings of the commands that run models in this process: the service's own
 * TOKLIP_* variables and flags (README, Configuration), read by the service's loadConfig, so a
 * dataset job and the service take the same settings the same way. Only the flags that shape
 * the engine are offered on the command line; the environment may hold any TOKLIP_* setting.
 */
import { pino, type Logger } from 'pino';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/schema.js';
import { type SettingName, envName, flagName } from '../config/schema.js';

export const ENGINE_SETTINGS = [
  'modelsDir',
  'defaultModel',
  'verifyChecksums',
  'device',
  'workers',
  'intraOpThreads',
  'intraOpSpinning',
  'workerNice',
  'maxBatch',
  'maxDelayMs',
  'queueLimit',
  'imageThreads',
  'maxImagePixels',
  'bodyLimitMb',
  'logLevel',
] as const satisfies readonly SettingName[];

export const ENGINE_FLAGS: readonly string[] = ENGINE_SETTINGS.map(flagName);

/** parseArgs option entries for the engine flags. */
export function engineFlagOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(ENGINE_FLAGS.map((flag) => [flag, { type: 'string' as const }]));
}

/** The engine flags found in parsed values, back as argv for loadConfig. */
export function engineArgv(values: Readonly<Record<string, unknown>>): string[] {
  return ENGINE_FLAGS.flatMap((flag) => (typeof values[flag] === 'string' ? [`--${flag}`, values[flag] as string] : []));
}

/**
 * The engine's in-process result cache is off unless TOKLIP_CACHE_MB asks for it: a dataset
 * command computes identical bytes once by itself (src/datasets/dedupe.ts), and a cache that
 * fills up over a run would only add memory. A shared Redis tier (TOKLIP_CACHE_REDIS_URL) stays
 * as configured: runs over the same images reuse each other's results through it.
 */
export function loadEngineConfig(env: NodeJS.ProcessEnv, values: Readonly<Record<string, unknown>>): Config {
  const config = loadConfig(env, engineArgv(values));
  if ((env[envName('cacheMb')] ?? '') !== '') return config;
  return Object.freeze({ ...config, cache: Object.freeze({ ...config.cache, memoryBytes: 0 }) });
}

/** Logs go to stderr; a dataset command logs warnings and errors unless TOKLIP_LOG_LEVEL / --log-level says otherwise. */
export function commandLogger(config: Config, env: NodeJS.ProcessEnv, values: Readonly<Record<string, unknown>>): Logger {
  const explicit = typeof values['log-level'] === 'string' || (env[envName('logLevel')] ?? '') !== '';
  return pino({ level: explicit ? config.logLevel : 'warn' }, pino.destination(2));
}

export const ENGINE_HELP = `Engine settings (in-process runs; the service's TOKLIP_* variables work too, README "Configuration"):
  --models-dir DIR          bundles to load (TOKLIP_MODELS_DIR, default ./models)
  --device auto|cpu|cuda[:N]
  --workers N --intra-op-threads N --max-batch N --max-delay-ms MS --queue-limit N
  --image-threads N --max-image-pixels N --body-limit-mb MB (largest image file)
  --log-level LEVEL         default warn for these commands`;
