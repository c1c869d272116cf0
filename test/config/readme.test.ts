import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { SETTING_NAMES, SettingsSchema, envName } from '../../src/config/index.js';

it('README documents every setting with its default', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  for (const setting of SETTING_NAMES) {
    const row = readme.split('\n').find((line) => line.startsWith(`| ${envName(setting)} |`));
    assert.ok(row, `${envName(setting)} missing from the README configuration table`);
    const fallback = (SettingsSchema.properties[setting] as unknown as { default: unknown }).default;
    const shown = row.split('|')[2]!.trim();
    assert.equal(shown, fallback === '' ? '(empty)' : String(fallback), `${envName(setting)} default`);
  }
});
