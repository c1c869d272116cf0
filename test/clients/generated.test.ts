/**
 * The generated client and the OpenAPI document it comes from stay in step with the code:
 * clients/typescript/schema.d.ts equals what `npm run client` makes of openapi/openapi.json
 * (which test/http/openapi.test.ts keeps equal to the routes), and the document passes
 * `npm run lint:openapi` (Redocly, redocly.yaml).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLIENT_TYPES, generateClientTypes } from '../../scripts/client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('generated client and OpenAPI lint', () => {
  it('clients/typescript/schema.d.ts is up to date (npm run client)', async () => {
    const committed = await readFile(CLIENT_TYPES, 'utf8');
    assert.ok(committed === (await generateClientTypes()), 'stale: run `npm run client` and commit the result');
  });

  it('openapi/openapi.json passes redocly lint with redocly.yaml', async () => {
    const { code, output } = await run(`${ROOT}node_modules/.bin/redocly`, ['lint', '--format=stylish']);
    assert.equal(code, 0, output);
    assert.match(output, /Your API description is valid/);
  });
});
