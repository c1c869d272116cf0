/**
 * Route handlers get their request data typed by their TypeBox schemas (the type provider):
 * no `as` casts of the body, query string or path parameters anywhere in src/. A cast there
 * would let a handler disagree with its schema without `npm run typecheck` noticing.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../../src/', import.meta.url);
const CAST_OF_REQUEST_DATA = /\brequest\.(body|query|params|headers)\s+as\b|\(\s*request\.(body|query|params)\s*\)\s+as\b/;

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => join(e.parentPath, e.name));
}

describe('typed route handlers', () => {
  it('src/ holds no cast of request data', async () => {
    const offenders: string[] = [];
    for (const file of await sources(SRC.pathname)) {
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (CAST_OF_REQUEST_DATA.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, []);
  });

  it('the check finds a cast when there is one', () => {
    assert.match('const body = request.body as EmbeddingsBody;', CAST_OF_REQUEST_DATA);
    assert.match("const { name } = request.params as { name: string };", CAST_OF_REQUEST_DATA);
    assert.doesNotMatch('const body = request.body;', CAST_OF_REQUEST_DATA);
  });
});
