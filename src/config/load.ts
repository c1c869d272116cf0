/**
 * loadConfig(env, argv): the only reader of process.env (its caller passes it in). Parses every
 * TOKLIP_* variable and --flag, applies defaults, checks each value and the rules between them,
 * and returns one frozen Config. Every problem is reported at once, naming the variable.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Value from 'typebox/value';
import { MODEL_ID_PATTERN } from '../models/manifest.js';
import { parseSecurity } from './security.js';
import {
  type Config,
  type DeviceConfig,
  type TracingConfig,
  type SettingName,
  type Settings,
  SETTING_NAMES,
  SettingsSchema,
  envName,
  flagName,
} from './schema.js';

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface HostFacts {
  readonly cpuCount: number;
  readonly cwd: string;
}

const defaultHost = (): HostFacts => ({ cpuCount: availableParallelism(), cwd: process.cwd() });

/** Where each raw value came from, for messages such as "TOKLIP_PORT='x': must be integer". */
function sourceOf(setting: SettingName, fromFlag: ReadonlySet<string>): string {
  return fromFlag.has(setting) ? `--${flagName(setting)}` : envName(setting);
}

function readRaw(env: NodeJS.ProcessEnv, argv: readonly string[], problems: string[]) {
  const raw: Record<string, string> = {};
  const fromFlag = new Set<string>();
  const knownEnv = new Set(SETTING_NAMES.map(envName));
  for (const name of Object.keys(env)) {
    if (name.startsWith('TOKLIP_') && !knownEnv.has(name)) problems.push(`${name}: unknown setting`);
  }
  for (const setting of SETTING_NAMES) {
    const value = env[envName(setting)];
    if (value !== undefined && value !== '') raw[setting] = value.trim();
  }
  const flags = Object.fromEntries(SETTING_NAMES.map((s) => [flagName(s), { type: 'string' as const }]));
  try {
    const { values } = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false });
    for (const setting of SETTING_NAMES) {
      const value = values[flagName(setting)];
      if (typeof value === 'string') {
        raw[setting] = value.trim();
        fromFlag.add(setting);
      }
    }
  } catch (error) {
    problems.push(`command line: ${(error as Error).message}`);
  }
  return { raw, fromFlag };
}

/** Settings whose values may hold credentials: never repeated in messages. */
const SECRET_SETTINGS: ReadonlySet<SettingName> = new Set(['apiKeys', 'cacheRedisUrl']);

function parseDevice(settings: Settings): DeviceConfig {
  const [kind, id] = settings.device.split(':') as ['auto' | 'cpu' | 'cuda', string | undefined];
  return { kind, deviceId: id === undefined ? 0 : Number(id) };
}

function crossFieldProblems(s: Settings): string[] {
  const problems: string[] = [];
  if (s.queueLimit < s.maxImagesPerRequest) {
    problems.push(
      `${envName('queueLimit')}=${s.queueLimit} is below ${envName('maxImagesPerRequest')}=${s.maxImagesPerRequest}: ` +
        'a full request could never be queued',
    );
  }
  if (s.cacheRedisUrl !== '') {
    let protocol: string | undefined;
    try {
      protocol = new URL(s.cacheRedisUrl).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      problems.push(`${envName('cacheRedisUrl')}=(hidden): not a redis:// or rediss:// URL (redis://[user:password@]host:port[/db])`);
    }
  }
  if (s.defaultModel !== '' && !new RegExp(MODEL_ID_PATTERN).test(s.defaultModel)) {
    problems.push(`${envName('defaultModel')}='${s.defaultModel}': not a model id (${MODEL_ID_PATTERN})`);
  }
  return problems;
}

/** Exporters of OTEL_TRACES_EXPORTER this service has. */
const TRACE_EXPORTERS = ['otlp', 'none'];
/** OTLP protocols it has (@opentelemetry/exporter-trace-otlp-proto). */
const OTLP_PROTOCOLS = ['http/protobuf'];

/**
 * The standard OTEL_* variables that decide whether tracing is on (the SDK reads the rest
 * itself): on with OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint, off with
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, off when none is set.
 */
export function parseTracing(env: NodeJS.ProcessEnv): { tracing: TracingConfig; problems: string[] } {
  const problems: string[] = [];
  const value = (name: string) => env[name]?.trim() || undefined;
  const exporters = (value('OTEL_TRACES_EXPORTER') ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
  for (const exporter of exporters) {
    if (!TRACE_EXPORTERS.includes(exporter)) problems.push(`OTEL_TRACES_EXPORTER=${exporter}: this service exports traces with otlp only (or none)`);
  }
  const endpoint = value('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? value('OTEL_EXPORTER_OTLP_ENDPOINT');
  const disabled = value('OTEL_SDK_DISABLED')?.toLowerCase() === 'true';
  const enabled = !disabled && (exporters.includes('otlp') || (exporters.length === 0 && endpoint !== undefined));
  const protocol = value('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? value('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf';
  if (enabled && !OTLP_PROTOCOLS.includes(protocol)) {
    problems.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: this service sends OTLP as http/protobuf (a collector's port 4318)`);
  }
  return { tracing: Object.freeze({ enabled, serviceName: value('OTEL_SERVICE_NAME') ?? 'toklip-serve' }), problems };
}

/**
 * @param env   usually process.env
 * @param argv  command-line arguments after the script name (process.argv.slice(2))
 */
export function loadConfig(env: NodeJS.ProcessEnv, argv: readonly string[] = [], host: HostFacts = defaultHost()): Config {
  const problems: string[] = [];
  const { raw, fromFlag } = readRaw(env, argv, problems);

  const converted = Value.Convert(SettingsSchema, Value.Default(SettingsSchema, { ...raw }));
  for (const error of Value.Errors(SettingsSchema, converted)) {
    const setting = error.instancePath.slice(1) as SettingName;
    const given = raw[setting];
    const constraint = SettingsSchema.properties[setting];
    const allowed = 'enum' in constraint ? ` (one of: ${(constraint.enum as string[]).join(', ')})` : '';
    const shown = SECRET_SETTINGS.has(setting) ? '(hidden)' : `'${given ?? ''}'`;
    problems.push(`${sourceOf(setting, fromFlag)}=${shown}: ${error.message}${allowed}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const settings = converted as Settings;
  problems.push(...crossFieldProblems(settings));
  const { tracing, problems: tracingProblems } = parseTracing(env);
  problems.push(...tracingProblems);
  const { security, problems: securityProblems } = parseSecurity(settings);
  problems.push(...securityProblems);
  if (problems.length > 0) throw new ConfigError(problems);

  const intraOpThreads =
    settings.intraOpThreads > 0 || settings.workers === 0 ? settings.intraOpThreads : Math.max(1, Math.floor(host.cpuCount / settings.workers));

  return Object.freeze({
    host: settings.host,
    port: settings.port,
    modelsDir: resolve(host.cwd, settings.modelsDir),
    defaultModel: settings.defaultModel === '' ? undefined : settings.defaultModel,
    device: Object.freeze(parseDevice(settings)),
    workers: settings.workers,
    intraOpThreads,
    intraOpSpinning: settings.intraOpSpinning,
    workerNice: settings.workerNice,
    cpuCount: host.cpuCount,
    maxBatch: settings.maxBatch,
    maxDelayMs: settings.maxDelayMs,
    queueLimit: settings.queueLimit,
    admissionWaitFraction: settings.admissionWaitFraction,
    requestTimeoutMs: settings.requestTimeoutMs,
    bodyLimitBytes: Math.floor(settings.bodyLimitMb * 1024 * 1024),
    maxImagesPerRequest: settings.maxImagesPerRequest,
    maxImagePixels: settings.maxImagePixels,
    imageThreads: settings.imageThreads > 0 ? settings.imageThreads : Math.max(1, Math.min(4, host.cpuCount)),
    logLevel: settings.logLevel,
    maxEventLoopDelayMs: settings.maxEventLoopDelayMs,
    shutdownGraceMs: settings.shutdownGraceMs,
    verifyChecksums: settings.verifyChecksums,
    security,
    cache: Object.freeze({
      memoryBytes: Math.floor(settings.cacheMb * 1024 * 1024),
      redis:
        settings.cacheRedisUrl === ''
          ? undefined
          : Object.freeze({
              url: settings.cacheRedisUrl,
              ttlSeconds: settings.cacheRedisTtlSeconds,
              prefix: settings.cacheRedisPrefix,
              timeoutMs: settings.cacheRedisTimeoutMs,
            }),
    }),
    tracing,
  });
}
