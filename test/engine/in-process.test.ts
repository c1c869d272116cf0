/**
 * The engine is a front-end-free API: examples/engine.ts starts one from the configuration and
 * encodes image files with no HTTP in between; its ids equal the HTTP service's for the same
 * image.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { RunningServer } from '../../src/http/server.js';
import { FIXTURE_BUNDLES_DIR, TINY } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';

const run = promisify(execFile);

describe('the engine in-process (examples/engine.ts)', () => {
  let dir: string;
  let server: RunningServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'toklip-engine-'));
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('encodes image files without HTTP, with the ids the service gives', async () => {
    const png = await sharp({ create: { width: 90, height: 60, channels: 3, background: { r: 200, g: 30, b: 40 } } }).png().toBuffer();
    const file = join(dir, 'red.png');
    await writeFile(file, png);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/engine.ts', file], {
      env: { PATH: process.env.PATH ?? '', TOKLIP_MODELS_DIR: FIXTURE_BUNDLES_DIR, TOKLIP_DEVICE: 'cpu', TOKLIP_WORKERS: '1', TOKLIP_IMAGE_THREADS: '1' },
    });
    const line = JSON.parse(stdout.trim()) as { file: string; ids: number[]; embedding_norm: number };
    assert.equal(line.file, file);
    assert.equal(line.ids.length, TINY.numTokens);
    assert.ok(line.embedding_norm > 0);
    const viaHttp = await postJson(`${server.url}/v1/tokenize`, { images: [png.toString('base64')] });
    assert.deepEqual(line.ids, viaHttp.json.tokens[0]);
  });
});
