// Static checks of the Dockerfile and a behaviour test of its HEALTHCHECK script. The image
// itself is built and run by scripts/build-image.sh (docs/deploy.md).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';
import { loadConfig } from '../../src/config/index.js';
import { GLIBC_MALLOC_TUNABLES, allocatorStatus } from '../../src/engine/allocator.js';
import { readDockerfile, REPO_ROOT } from './dockerfile.js';

const dockerfile = readDockerfile();

describe('Dockerfile', () => {
  it('has no syntax or instruction errors (dockerfile-utils)', () => {
    const problems = validate(dockerfile.text).map(
      (diagnostic) => `line ${diagnostic.range.start.line + 1}: ${diagnostic.message}`,
    );
    assert.deepEqual(problems, []);
  });

  it('builds a CUDA 12 + cuDNN 9 image by default and a Debian slim one for VARIANT=cpu', () => {
    assert.equal(dockerfile.args.VARIANT, 'cuda');
    assert.match(dockerfile.args.CUDA_BASE ?? '', /^docker\.io\/nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu2[24]\.04$/);
    assert.match(dockerfile.args.CPU_BASE ?? '', /^docker\.io\/library\/debian:bookworm-slim$/);
    assert.match(dockerfile.args.NODE_IMAGE ?? '', /^docker\.io\/library\/node:\d+-bookworm-slim$/);
    for (const stage of ['build', 'deps-cpu', 'deps-cuda', 'base-cpu', 'base-cuda', 'runtime']) {
      assert.ok(dockerfile.stages.includes(stage), `stage ${stage}`);
    }
    assert.match(dockerfile.text, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('runs the active Node LTS line (24), the same line as the offline build script\'s stand-in', () => {
    // Node 24 is the active LTS line (maintained until April 2028); 22 is in maintenance only.
    const major = /node:(\d+)-/.exec(dockerfile.args.NODE_IMAGE ?? '')?.[1];
    assert.equal(major, '24');
    const script = readFileSync(new URL('scripts/build-image.sh', REPO_ROOT), 'utf8');
    const standIn = /node_version=\$\{NODE_VERSION:-(\d+)\.\d+\.\d+\}/.exec(script)?.[1];
    assert.equal(standIn, major, 'scripts/build-image.sh NODE_VERSION default is another Node line');
    assert.match(script, /node_image=localhost\/toklip-node:\$node_major/);
  });

  it('runs the compiled server as a non-root numeric user', () => {
    assert.match(dockerfile.user, /^[1-9]\d{3,}:[1-9]\d{3,}$/);
    assert.deepEqual(dockerfile.cmd, ['node', 'dist/http/server.js']);
    const packageJson = JSON.parse(readFileSync(new URL('package.json', REPO_ROOT), 'utf8')) as {
      scripts: Record<string, string>;
    };
    // npm start execs node with the same settings (signals reach the server), the image runs node directly.
    assert.equal(packageJson.scripts.start, `exec env GLIBC_TUNABLES=${GLIBC_MALLOC_TUNABLES} node dist/http/server.js`);
  });

  it('launches with the malloc settings of src/engine/allocator.ts, as npm start does', () => {
    assert.equal(dockerfile.env.GLIBC_TUNABLES, GLIBC_MALLOC_TUNABLES);
    const { scripts } = JSON.parse(readFileSync(new URL('package.json', REPO_ROOT), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(scripts['bench:preprocess'], `GLIBC_TUNABLES=${GLIBC_MALLOC_TUNABLES} tsx bench/preprocess.ts`);
    assert.equal(allocatorStatus({ GLIBC_TUNABLES: dockerfile.env.GLIBC_TUNABLES }).tuned, true);
    assert.equal(allocatorStatus({}).tuned, false);
    assert.equal(allocatorStatus({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432' }).tuned, false);
  });

  it('sets service defaults the service accepts, matching the exposed port and /models', () => {
    const config = loadConfig(dockerfile.env, [], { cpuCount: 4, cwd: '/app' });
    assert.equal(config.device.kind, 'auto');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.modelsDir, '/models');
    assert.deepEqual(dockerfile.exposedPorts, [String(config.port)]);
  });

  it('health-checks with a script that exists and is in the build context', () => {
    assert.deepEqual(dockerfile.healthcheck, ['node', '/app/docker/healthcheck.mjs']);
    assert.ok(existsSync(new URL('docker/healthcheck.mjs', REPO_ROOT)));
    const dockerignore = readFileSync(new URL('.dockerignore', REPO_ROOT), 'utf8').split('\n');
    assert.ok(dockerignore.includes('!docker/healthcheck.mjs'));
  });
});

/** Runs docker/healthcheck.mjs against a port and returns its exit code. */
function runHealthcheck(port: number): Promise<number | null> {
  const script = fileURLToPath(new URL('docker/healthcheck.mjs', REPO_ROOT));
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH, TOKLIP_PORT: String(port) },
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

async function listen(status: number): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((request, response) => {
    paths.push(request.url ?? '');
    response.statusCode = status;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

describe('docker/healthcheck.mjs', () => {
  it('exits 0 when /healthz answers 200', async () => {
    const { server, port, paths } = await listen(200);
    try {
      assert.equal(await runHealthcheck(port), 0);
      assert.deepEqual(paths, ['/healthz']);
    } finally {
      server.close();
    }
  });

  it('exits 1 when /healthz answers 503', async () => {
    const { server, port } = await listen(503);
    try {
      assert.equal(await runHealthcheck(port), 1);
    } finally {
      server.close();
    }
  });

  it('exits 1 when nothing listens', async () => {
    const { server, port } = await listen(200);
    await new Promise((resolve) => server.close(resolve));
    assert.equal(await runHealthcheck(port), 1);
  });
});
