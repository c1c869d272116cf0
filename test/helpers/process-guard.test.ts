import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const GUARD = fileURLToPath(new URL('./process-guard.mjs', import.meta.url));

/** Runs a snippet under the guard (as the test runner does) and returns its exit code and stderr. */
function run(code: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', GUARD, '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (exitCode) => resolve({ code: exitCode, stderr }));
  });
}

describe('process guard of the test processes', () => {
  it('fails a process in which a promise rejection went unhandled, even if it then ends normally', async () => {
    const { code, stderr } = await run("Promise.reject(new Error('nobody handles me')); setTimeout(() => {}, 10);");
    assert.equal(code, 1);
    assert.match(stderr, /\[process-guard\] unhandledRejection: Error: nobody handles me/);
  });

  it('fails a process with an uncaught exception', async () => {
    const { code, stderr } = await run("setTimeout(() => { throw new Error('thrown in a timer'); }, 0);");
    assert.equal(code, 1);
    assert.match(stderr, /uncaughtException: Error: thrown in a timer/);
  });

  it('lets a clean process pass', async () => {
    const { code } = await run('await Promise.resolve(1);');
    assert.equal(code, 0);
  });
});
