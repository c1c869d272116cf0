/**
 * The model-id pattern is written once per language: src/models/manifest.ts for the service
 * (manifest, request options, path parameters, TOKLIP_DEFAULT_MODEL) and the exporter's
 * tools/export/toklip_export/model_id.py; docs/bundle-format.md states it. They must agree.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MODEL_ID_PATTERN } from '../../src/models/manifest.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFile(new URL(path, ROOT), 'utf8');
const body = (pattern: string) => pattern.replace(/^\^/, '').replace(/\$$/, '');

describe('the model-id pattern', () => {
  it('the exporter and the bundle-format document state the same pattern as the service', async () => {
    const python = /^MODEL_ID_PATTERN = r"([^"]+)"$/m.exec(await read('tools/export/toklip_export/model_id.py'))?.[1];
    assert.equal(python, MODEL_ID_PATTERN);
    assert.ok((await read('docs/bundle-format.md')).includes(body(MODEL_ID_PATTERN)), 'docs/bundle-format.md names the pattern');
  });

  it('no other copy of the pattern in src/', async () => {
    const copies: string[] = [];
    const entries = await readdir(new URL('src/', ROOT), { withFileTypes: true, recursive: true });
    for (const entry of entries.filter((e) => e.isFile() && e.name.endsWith('.ts'))) {
      const file = join(entry.parentPath, entry.name);
      if (file.endsWith('src/models/manifest.ts')) continue;
      if ((await readFile(file, 'utf8')).includes(body(MODEL_ID_PATTERN))) copies.push(file);
    }
    assert.deepEqual(copies, []);
  });
});
