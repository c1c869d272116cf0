/**
 * The service's settings: one TypeBox schema gives the type, the defaults, the validation and
 * the README table. Each setting comes from one TOKLIP_* environment variable or the matching
 * command-line flag (`--max-batch 8`), flags winning over the environment.
 */
import Type, { type Static } from 'typebox';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const SettingsSchema = Type.Object(
  {
    host: Type.String({ default: '0.0.0.0', minLength: 1, description: 'Address to listen on' }),
    port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'TCP port (0 = any free port)' }),
    modelsDir: Type.String({ default: './models', minLength: 1, description: 'Folder whose sub-folders are model bundles' }),
    defaultModel: Type.String({
      default: '',
      description: 'Model used when a request names none (empty: the only model, else the first by name)',
    }),
    device: Type.String({
      default: 'auto',
      pattern: '^(auto|cpu|cuda|cuda:[0-9]+)$',
      description: 'auto (CUDA when its provider loads, else CPU) | cpu | cuda | cuda:N',
    }),
    workers: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 64,
      description:
        'Inference worker threads, each holding every session (0: automatic: one per core, up to 4, for served graphs of at most 256 MiB in all; else one)',
    }),
    intraOpThreads: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 256,
      description: 'ONNX Runtime intra-op threads per worker (0: CPU cores / workers)',
    }),
    workerNice: Type.Integer({
      default: 5,
      minimum: 0,
      maximum: 19,
      description:
        'Linux: niceness added to the inference and image worker threads (and the ONNX Runtime threads they start), so that the event loop gets a core first under load; 0: off',
    }),
    intraOpSpinning: Type.Boolean({
      default: false,
      description: 'ONNX Runtime intra-op threads spin while waiting for work (faster alone, but they take CPU from HTTP and image work)',
    }),
    maxBatch: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 1024,
      description: 'Most images, token rows or texts in one ONNX Runtime call (0: automatic: 8 for served graphs over 256 MiB on CPU, else 16)',
    }),
    maxDelayMs: Type.Number({
      default: 5,
      minimum: 0,
      maximum: 10_000,
      description: 'Longest wait for a batch to fill while a worker is free',
    }),
    queueLimit: Type.Integer({
      default: 256,
      minimum: 1,
      maximum: 1_000_000,
      description: 'Most queued items per (model, graph) batcher; beyond it requests get 429',
    }),
    admissionWaitFraction: Type.Number({
      default: 0.6,
      minimum: 0,
      maximum: 1,
      description:
        'Admission by predicted wait: a request whose work is predicted to be done later than this fraction of the time left before its deadline gets 429 at once; 0: off',
    }),
    requestTimeoutMs: Type.Integer({
      default: 30_000,
      minimum: 1,
      maximum: 3_600_000,
      description: 'Deadline of a request (a client may ask for less with the x-request-timeout-ms header); 504 after it',
    }),
    bodyLimitMb: Type.Number({ default: 32, exclusiveMinimum: 0, maximum: 4096, description: 'Largest request body in MiB (413 beyond)' }),
    maxImagesPerRequest: Type.Integer({
      default: 64,
      minimum: 1,
      maximum: 4096,
      description: 'Most images, token rows or texts in one request (413 beyond)',
    }),
    maxImagePixels: Type.Integer({
      default: 50_000_000,
      minimum: 1,
      maximum: 1_000_000_000,
      description: 'Largest decoded image (width x height) accepted (413 beyond)',
    }),
    imageThreads: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 64,
      description: 'Image decoding/preprocessing worker threads (0: min(4, CPU cores))',
    }),
    logLevel: Type.Enum([...LOG_LEVELS], { default: 'info', description: 'pino log level' }),
    maxEventLoopDelayMs: Type.Integer({
      default: 1000,
      minimum: 0,
      maximum: 60_000,
      description: 'Load shedding: while the mean event-loop delay of the last 0.5 s exceeds this, new requests get 503 overloaded; 0: off',
    }),
    shutdownGraceMs: Type.Integer({
      default: 30_000,
      minimum: 0,
      maximum: 600_000,
      description: 'On SIGTERM: time allowed for in-flight requests before exiting anyway',
    }),
    verifyChecksums: Type.Boolean({ default: true, description: "Check every bundle file's sha256 at start" }),
    apiKeys: Type.String({
      default: '',
      description: 'Comma-separated Bearer API keys (at least 16 characters each); empty: no authentication',
    }),
    corsOrigins: Type.String({
      default: '',
      description: 'CORS: comma-separated allowed origins (https://app.example.com) or * for any; empty: CORS off',
    }),
    rateLimitMax: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 1_000_000_000,
      description: 'Requests per window per API key (per client address without keys); 0: no rate limit',
    }),
    rateLimitWindowMs: Type.Integer({ default: 60_000, minimum: 1000, maximum: 86_400_000, description: 'Rate limit window' }),
    trustProxy: Type.String({
      default: '',
      description: 'Proxies whose X-Forwarded-For names the client (comma-separated addresses or CIDRs); empty: none',
    }),
    allowUrls: Type.Boolean({ default: false, description: 'Accept https image URLs in JSON `images` (fetched by the server)' }),
    urlAllowedHosts: Type.String({
      default: '',
      description: 'Hosts image URLs may name: comma-separated names, *.example.com for sub-domains, or * for any public host',
    }),
    urlMaxMb: Type.Number({ default: 16, exclusiveMinimum: 0, maximum: 1024, description: 'Largest image downloaded from one URL, in MiB' }),
    urlConnectTimeoutMs: Type.Integer({ default: 3000, minimum: 1, maximum: 60_000, description: 'Time to connect to an image URL (TCP and TLS)' }),
    urlTimeoutMs: Type.Integer({ default: 10_000, minimum: 1, maximum: 300_000, description: 'Time to download an image URL, name resolution included' }),
    cacheMb: Type.Number({
      default: 128,
      minimum: 0,
      maximum: 1_048_576,
      description: 'In-process result cache: most MiB of results kept (LRU by bytes); 0: off',
    }),
    cacheRedisUrl: Type.String({
      default: '',
      description: 'redis:// or rediss:// URL of a Redis shared between replicas for cached results; empty: none',
    }),
    cacheRedisTtlSeconds: Type.Integer({ default: 86_400, minimum: 1, maximum: 31_536_000, description: 'Expiry of results written to Redis' }),
    cacheRedisPrefix: Type.String({
      default: 'toklip',
      pattern: '^[A-Za-z0-9_.:{}-]{1,64}$',
      description: 'Prefix of the Redis keys (the bundle checksum follows it in every key)',
    }),
    cacheRedisTimeoutMs: Type.Integer({
      default: 50,
      minimum: 1,
      maximum: 10_000,
      description: 'Longest wait for a Redis read; a slower read is a miss (the result is computed)',
    }),
  },
  { additionalProperties: false },
);

export type Settings = Static<typeof SettingsSchema>;
export type SettingName = keyof Settings;

/** camelCase setting -> TOKLIP_SNAKE_CASE variable and --kebab-case flag. */
export function envName(setting: SettingName): string {
  return `TOKLIP_${setting.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export function flagName(setting: SettingName): string {
  return setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export const SETTING_NAMES = Object.keys(SettingsSchema.properties) as SettingName[];

export type DeviceKind = 'auto' | 'cpu' | 'cuda';

export interface DeviceConfig {
  readonly kind: DeviceKind;
  /** CUDA device ordinal (cuda:N); 0 for auto/cuda. */
  readonly deviceId: number;
}

/** The validated, derived, frozen configuration handed to every part of the service. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** Absolute path. */
  readonly modelsDir: string;
  readonly defaultModel: string | undefined;
  readonly device: DeviceConfig;
  /** 0: automatic, resolved at start from the served graphs' size (src/inference/layout.ts). */
  readonly workers: number;
  /** Resolved when workers is set; 0 with automatic workers: CPU cores / workers. */
  readonly intraOpThreads: number;
  readonly intraOpSpinning: boolean;
  /** Niceness added to the worker threads (src/thread-priority.ts). */
  readonly workerNice: number;
  /** Cores available to the process (for the automatic worker layout). */
  readonly cpuCount: number;
  /** 0: automatic, resolved at start (src/scheduling/batch-policy.ts). */
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly queueLimit: number;
  /** 0: admission by predicted wait off. */
  readonly admissionWaitFraction: number;
  readonly requestTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly maxImagesPerRequest: number;
  readonly maxImagePixels: number;
  /** Resolved (never 0). */
  readonly imageThreads: number;
  readonly logLevel: Settings['logLevel'];
  readonly maxEventLoopDelayMs: number;
  readonly shutdownGraceMs: number;
  readonly verifyChecksums: boolean;
  readonly security: SecurityConfig;
  /** Result cache (TOKLIP_CACHE_*). */
  readonly cache: CacheConfig;
  /** OpenTelemetry tracing (the standard OTEL_* variables). */
  readonly tracing: TracingConfig;
}

/** The result cache: in-process bound and the shared Redis, if any. */
export interface CacheConfig {
  /** 0: no in-process cache. */
  readonly memoryBytes: number;
  /** undefined: no shared cache. */
  readonly redis: RedisCacheConfig | undefined;
}

export interface RedisCacheConfig {
  /** Holds credentials when the URL does: never logged. */
  readonly url: string;
  readonly ttlSeconds: number;
  readonly prefix: string;
  readonly timeoutMs: number;
}

/**
 * Tracing is on when an OTLP exporter is asked for (OTEL_TRACES_EXPORTER=otlp) or an OTLP
 * endpoint is set, and OTEL_SDK_DISABLED is not true. The SDK reads the other OTEL_* variables
 * itself (endpoint, headers, sampler, resource attributes, batching).
 */
export interface TracingConfig {
  readonly enabled: boolean;
  /** OTEL_SERVICE_NAME, else toklip-serve. */
  readonly serviceName: string;
}

/** Access control and outbound fetching (TOKLIP_API_KEYS, CORS, rate limit, image URLs). */
export interface SecurityConfig {
  /** Empty: no authentication. Never logged. */
  readonly apiKeys: readonly string[];
  /** undefined: CORS off; '*': any origin; else the allowed origins. */
  readonly corsOrigins: '*' | readonly string[] | undefined;
  /** undefined: no rate limit. */
  readonly rateLimit: { readonly max: number; readonly windowMs: number } | undefined;
  /** Proxy addresses/CIDRs whose X-Forwarded-For is trusted; empty: none. */
  readonly trustProxy: readonly string[];
  /** undefined: image URLs are refused. */
  readonly remoteImages: RemoteImagesConfig | undefined;
}

export interface RemoteImagesConfig {
  readonly allowedHosts: readonly string[];
  readonly maxBytes: number;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
}
