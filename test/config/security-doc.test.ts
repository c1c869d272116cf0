/**
 * docs/security.md states the limits and their defaults: its tables must agree with the config
 * schema and the constants the code enforces, and name every limit and access-control switch.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { SETTING_NAMES, type SettingName, SettingsSchema, envName } from '../../src/config/index.js';
import { MULTIPART_FIELD_BYTES } from '../../src/http/inputs/images.js';
import { MAX_TEXT_CHARS } from '../../src/engine/texts.js';
import { MAX_IDS_PER_ROW } from '../../src/http/schemas/inference.js';

const CONSTANTS: Record<string, number> = { MAX_TEXT_CHARS, MAX_IDS_PER_ROW, MULTIPART_FIELD_BYTES };

/** The settings that bound a request or guard the service: each needs a row. */
const SECURITY_SETTINGS: readonly SettingName[] = [
  'bodyLimitMb',
  'maxImagesPerRequest',
  'maxImagePixels',
  'queueLimit',
  'requestTimeoutMs',
  'maxEventLoopDelayMs',
  'rateLimitMax',
  'rateLimitWindowMs',
  'shutdownGraceMs',
  'urlMaxMb',
  'urlConnectTimeoutMs',
  'urlTimeoutMs',
  'apiKeys',
  'corsOrigins',
  'trustProxy',
  'allowUrls',
  'urlAllowedHosts',
];

function schemaDefault(setting: SettingName): string {
  const fallback = (SettingsSchema.properties[setting] as unknown as { default: unknown }).default;
  return fallback === '' ? '(empty)' : String(fallback);
}

it('docs/security.md gives every limit with the default of the config schema', async () => {
  const doc = await readFile(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const byEnv = new Map(SETTING_NAMES.map((s) => [envName(s), s]));
  const documented = new Set<string>();
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | what | SETTING | default | ... |
    const [name, shown] = [cells[2] ?? '', cells[3] ?? ''];
    if (name.startsWith('TOKLIP_')) {
      const setting = byEnv.get(name);
      assert.ok(setting, `${name} in docs/security.md is not a setting`);
      const expected = schemaDefault(setting);
      assert.ok(shown === expected || shown.startsWith(`${expected} `), `${name}: the doc says ${shown}, the schema ${expected}`);
      documented.add(name);
    } else {
      const constant = /^([A-Z_]+) \(constant\)$/.exec(name)?.[1];
      if (constant === undefined) continue;
      assert.ok(constant in CONSTANTS, `${constant} in docs/security.md is not a known constant`);
      assert.ok(shown === String(CONSTANTS[constant]) || shown.startsWith(`${CONSTANTS[constant]} `), `${constant}: the doc says ${shown}, the code ${CONSTANTS[constant]}`);
      documented.add(constant);
    }
  }
  for (const setting of SECURITY_SETTINGS) assert.ok(documented.has(envName(setting)), `${envName(setting)} missing from docs/security.md`);
  for (const constant of Object.keys(CONSTANTS)) assert.ok(documented.has(constant), `${constant} missing from docs/security.md`);
});
