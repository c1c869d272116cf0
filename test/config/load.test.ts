import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, SETTING_NAMES, envName, loadConfig } from '../../src/config/index.js';

const host = { cpuCount: 8, cwd: '/srv/app' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return [...error.problems];
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults and freezes', () => {
    const config = loadConfig({}, [], host);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 8080);
    assert.equal(config.modelsDir, '/srv/app/models');
    assert.equal(config.defaultModel, undefined);
    assert.deepEqual(config.device, {
      kind: 'auto',
      deviceId: 0,
    });
    assert.equal(config.workers, 0, 'automatic: chosen at start from the size of the served graphs');
    assert.equal(config.intraOpThreads, 0, 'automatic with the workers');
    assert.equal(config.intraOpSpinning, false);
    assert.equal(config.cpuCount, 8);
    assert.equal(config.maxBatch, 0, 'automatic: chosen at start');
    assert.equal(config.queueLimit, 256);
    assert.equal(config.maxImagesPerRequest, 64);
    assert.equal(config.bodyLimitBytes, 32 * 1024 * 1024);
    assert.equal(config.logLevel, 'info');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.device));
  });

  it('reads every TOKLIP_* variable, converting types', () => {
    const config = loadConfig(
      {
        TOKLIP_HOST: '127.0.0.1',
        TOKLIP_PORT: '9000',
        TOKLIP_MODELS_DIR: '/models',
        TOKLIP_DEFAULT_MODEL: 'toklip-s-256',
        TOKLIP_DEVICE: 'cuda:3',
        TOKLIP_WORKERS: '2',
        TOKLIP_INTRA_OP_THREADS: '3',
        TOKLIP_MAX_BATCH: '8',
        TOKLIP_MAX_DELAY_MS: '2.5',
        TOKLIP_QUEUE_LIMIT: '100',
        TOKLIP_REQUEST_TIMEOUT_MS: '1000',
        TOKLIP_BODY_LIMIT_MB: '1.5',
        TOKLIP_MAX_IMAGES_PER_REQUEST: '10',
        TOKLIP_MAX_IMAGE_PIXELS: '1000000',
        TOKLIP_LOG_LEVEL: 'debug',
        TOKLIP_SHUTDOWN_GRACE_MS: '500',
        TOKLIP_VERIFY_CHECKSUMS: 'false',
      },
      [],
      host,
    );
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 9000);
    assert.equal(config.modelsDir, '/models');
    assert.equal(config.defaultModel, 'toklip-s-256');
    assert.deepEqual(config.device, { kind: 'cuda', deviceId: 3 });
    assert.equal(config.workers, 2);
    assert.equal(config.intraOpThreads, 3);
    assert.equal(config.maxBatch, 8);
    assert.equal(config.maxDelayMs, 2.5);
    assert.equal(config.queueLimit, 100);
    assert.equal(config.requestTimeoutMs, 1000);
    assert.equal(config.bodyLimitBytes, Math.floor(1.5 * 1024 * 1024));
    assert.equal(config.maxImagesPerRequest, 10);
    assert.equal(config.maxImagePixels, 1_000_000);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.shutdownGraceMs, 500);
    assert.equal(config.verifyChecksums, false);
  });

  it('splits the cores between workers when intra-op threads are not set', () => {
    assert.equal(loadConfig({ TOKLIP_WORKERS: '3' }, [], host).intraOpThreads, 2);
    assert.equal(loadConfig({ TOKLIP_WORKERS: '16' }, [], host).intraOpThreads, 1);
  });

  it('lets command-line flags override the environment', () => {
    const config = loadConfig({ TOKLIP_PORT: '9000' }, ['--port', '9100', '--max-batch=4', '--device', 'cpu'], host);
    assert.equal(config.port, 9100);
    assert.equal(config.maxBatch, 4);
    assert.equal(config.device.kind, 'cpu');
  });

  it('reports every bad value at once, naming the variable', () => {
    const problems = problemsOf(() =>
      loadConfig({ TOKLIP_PORT: 'eighty', TOKLIP_DEVICE: 'gpu', TOKLIP_MAX_BATCH: '-1', TOKLIP_LOG_LEVEL: 'loud' }, [], host),
    );
    assert.equal(problems.length, 4);
    assert.match(problems.find((p) => p.startsWith('TOKLIP_PORT'))!, /'eighty'.*integer/);
    assert.match(problems.find((p) => p.startsWith('TOKLIP_DEVICE'))!, /'gpu'/);
    assert.match(problems.find((p) => p.startsWith('TOKLIP_MAX_BATCH'))!, /'-1'/);
    assert.match(problems.find((p) => p.startsWith('TOKLIP_LOG_LEVEL'))!, /one of: fatal, error, warn, info, debug, trace, silent/);
  });

  it('names the flag when the bad value came from the command line', () => {
    const [problem] = problemsOf(() => loadConfig({}, ['--workers', 'many'], host));
    assert.match(problem!, /^--workers='many'/);
  });

  it('rejects unknown TOKLIP_* variables and unknown flags', () => {
    assert.match(problemsOf(() => loadConfig({ TOKLIP_MAX_BATCHES: '4' }, [], host))[0]!, /TOKLIP_MAX_BATCHES: unknown setting/);
    assert.match(problemsOf(() => loadConfig({}, ['--turbo'], host))[0]!, /command line: .*turbo/);
  });

  it('checks rules between settings', () => {
    const [problem] = problemsOf(() => loadConfig({ TOKLIP_QUEUE_LIMIT: '8', TOKLIP_MAX_IMAGES_PER_REQUEST: '16' }, [], host));
    assert.match(problem!, /TOKLIP_QUEUE_LIMIT=8 is below TOKLIP_MAX_IMAGES_PER_REQUEST=16/);
    assert.match(problemsOf(() => loadConfig({ TOKLIP_DEFAULT_MODEL: 'Bad Name' }, [], host))[0]!, /not a model id/);
  });

  it('ConfigError.message is one readable block', () => {
    assert.throws(() => loadConfig({ TOKLIP_PORT: '-1' }, [], host), /invalid configuration:\n {2}- TOKLIP_PORT='-1'/);
  });

  it('every setting has a TOKLIP_ variable name', () => {
    for (const s of SETTING_NAMES) assert.match(envName(s), /^TOKLIP_[A-Z0-9_]+$/);
  });
});
