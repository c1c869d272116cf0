/**
 * The `toklip` bin: help for every command, usage errors (exit 2) that name the problem, and
 * `toklip serve`, which is the service as `npm start` runs it (ready line, SIGTERM drains and
 * exits 0), started through the launcher as `npx toklip` starts it.
 */
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { runChild, runCli, spawnCli } from '../datasets/cli.js';

describe('toklip command line', () => {
  it('prints help for itself and every command', async () => {
    const top = await runChild(['--help']);
    assert.equal(top.code, 0);
    for (const command of ['tokenize', 'decode', 'embed-texts', 'merge', 'serve']) assert.match(top.stdout, new RegExp(`\\n  ${command} `));
    for (const command of ['tokenize', 'decode', 'embed-texts', 'merge', 'serve']) {
      const run = await runCli([command, '--help']);
      assert.equal(run.code, 0);
      assert.match(run.stdout, new RegExp(`^Usage: toklip ${command} `));
    }
    assert.match((await runCli(['--version'])).stdout, /^toklip-serve \d+\.\d+\.\d+\n$/);
  });

  it('answers usage errors with exit status 2 and what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^Usage: toklip COMMAND/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['tokenize', 'x', '--out'], /--out/],
      [['tokenize', 'x', '--outt', 'y'], /Unknown option '--outt'/],
      [['tokenize', 'x'], /--out DIR is required/],
      [['tokenize', 'x', '--out', 'y', '--shard', '3/3'], /--shard='3\/3': expected I\/N with 0 <= I < N/],
      [['tokenize', 'x', '--out', 'y', '--max-errors', 'lots'], /--max-errors 'lots'/],
      [['tokenize', 'x', '--out', 'y', '--max-batch', 'big'], /--max-batch='big'/],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stdout + run.stderr, message, args.join(' '));
    }
  });

  it('serve: starts the service as npm start does, and SIGTERM drains it', async () => {
    const child = spawnCli(['serve', '--host', '127.0.0.1', '--port', '0'], { TOKLIP_LOG_LEVEL: 'info' });
    const lines = createInterface({ input: child.stdout! });
    let url = '';
    for await (const line of lines) {
      const record = JSON.parse(line) as { msg?: string; url?: string };
      if (record.msg?.startsWith('ready:')) {
        url = record.url!;
        break;
      }
    }
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
