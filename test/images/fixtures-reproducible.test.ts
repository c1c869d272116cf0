/**
 * The committed references are what Pillow computes for the committed inputs: re-run the
 * fixture script's --check where python3 with Pillow and numpy exists (skipped elsewhere).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const hasPillow = spawnSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' }).status === 0;

test('make_fixtures.py --check reproduces every reference', { skip: hasPillow ? false : 'python3 with Pillow and numpy not found' }, (t) => {
  const script = fileURLToPath(new URL('../fixtures/images/make_fixtures.py', import.meta.url));
  const run = spawnSync(PYTHON, [script, '--check'], { encoding: 'utf8' });
  t.diagnostic(run.stdout.trim());
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
