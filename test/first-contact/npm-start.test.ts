/**
 * A newcomer's first minutes, for real: `npm start` from the repository root (it builds, then
 * serves the shipped model), every curl example of README.md's "Quick start" and "API"
 * sections run by bash as written, each answered 2xx with the shape README shows after it;
 * then the SIGTERM a terminal, systemd or a process manager sends to npm: the in-flight
 * request is drained (200), npm exits, and no server process is left (issue 26).
 *
 * One `npm start` serves the whole file (its build takes most of a minute on a busy machine).
 * The only change to the commands: README's localhost:8080 becomes the port the server chose
 * (TOKLIP_PORT=0), since 8080 may be taken. Which requests a command made, and their status
 * codes, come from the server's own request log, so the commands run unmodified.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { NpmStart, listening } from './npm-start.js';
import { type Example, parseShape, readmeExamples, shapeErrors } from './readme-examples.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const EXAMPLES = readmeExamples(README);
/** npm start builds with tsc first: most of a minute on a loaded 2-core machine. */
const START_TIMEOUT_MS = 240_000;
const COMMAND_TIMEOUT_MS = 60_000;
const LOG_TIMEOUT_MS = 15_000;

/** The pictures the examples name, drawn as their names say (the shipped model knows such scenes). */
const PICTURES: Record<string, () => Promise<Buffer>> = {
  'red-circle.jpg': () => sharp(svg('<circle cx="64" cy="64" r="36" fill="red"/>')).jpeg().toBuffer(),
  'blue-square.png': () => sharp(svg('<rect x="30" y="30" width="68" height="68" fill="blue"/>')).png().toBuffer(),
};

function svg(shape: string): Buffer {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128"><rect width="128" height="128" fill="white"/>${shape}</svg>`);
}

/** Files an example reads: `@file` (curl) and `base64 -w0 file`. */
function filesNamed(command: string): string[] {
  return [...command.matchAll(/@([\w.-]+)|base64 -w0 ([\w.-]+)/g)].map((m) => (m[1] ?? m[2])!);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bash(script: string, cwd: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm start as README says, shipped model', { timeout: START_TIMEOUT_MS + 180_000 }, () => {
  let npm: NpmStart;
  let folder: string;
  let port: string;
  /** Shell variables set by earlier examples (`tokens=$(...)`). */
  const variables: Record<string, string> = {};

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'toklip-readme-'));
    for (const [name, draw] of Object.entries(PICTURES)) await writeFile(join(folder, name), await draw());
    // 127.0.0.1: the test's server need not be reachable from elsewhere; any free port.
    npm = await NpmStart.start({ TOKLIP_PORT: '0', TOKLIP_HOST: '127.0.0.1' }, START_TIMEOUT_MS);
    port = new URL(npm.url).port;
  });
  after(async () => {
    await npm?.stop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('README has curl examples in Quick start and API, each on localhost:8080 and naming only pictures this test provides', () => {
    assert.ok(EXAMPLES.some((e) => e.section === 'Quick start'));
    assert.ok(EXAMPLES.filter((e) => e.section === 'API').length >= 15);
    for (const example of EXAMPLES) {
      assert.match(example.command, /localhost:8080\//, example.command);
      for (const file of filesNamed(example.command)) assert.ok(file in PICTURES, `README names ${file}; this test provides ${Object.keys(PICTURES).join(', ')}`);
    }
  });

  for (const example of EXAMPLES) {
    it(`${example.section}: ${example.command.split('\n')[0]!.slice(0, 110)}`, async () => runExample(example));
  }

  async function runExample(example: Example): Promise<void> {
    const command = example.command.replaceAll('localhost:8080', `localhost:${port}`);
    // An assignment's value is its answer: print it after the command.
    const script = example.assigns ? `${command}\nprintf '%s' "$${example.assigns}"` : command;
    const logged = npm.records.length;
    const run = await bash(script, folder, variables);
    assert.equal(run.code, 0, `exit status of:\n${command}\nstderr: ${run.stderr}`);

    // Its requests, from the server's log: as many as it has curl calls, each 2xx.
    const completed = () => npm.records.slice(logged).filter((r) => r.msg === 'request completed');
    await npm.waitForLog(() => completed().length >= example.requests, `the log of ${example.requests} completed request(s)`, LOG_TIMEOUT_MS);
    const statuses = completed().map((r) => (r.res as { statusCode?: number } | undefined)?.statusCode);
    assert.equal(statuses.length, example.requests, 'requests made');
    assert.ok(statuses.every((s) => s !== undefined && s >= 200 && s < 300), `status codes ${statuses.join(', ')}; answer: ${run.stdout.slice(0, 500)}`);

    const { shape, prose } = parseShape(example.shape);
    if (shape !== undefined) {
      let answer: unknown;
      try {
        answer = JSON.parse(run.stdout);
      } catch {
        assert.fail(`README shows a JSON answer (${example.shape}); got: ${run.stdout.slice(0, 300)}`);
      }
      assert.deepEqual(shapeErrors(answer, shape), [], `the answer differs from README's "# -> ${example.shape}"`);
    } else {
      const output = /-o ([\w.-]+)/.exec(command)?.[1];
      if (output !== undefined) {
        // A file: an image of the type its name says.
        assert.ok(prose.startsWith(output), `README's shape names the file the command writes (${output}): ${prose}`);
        const metadata = await sharp(await readFile(join(folder, output))).metadata();
        assert.equal(metadata.format, output.split('.').pop(), `${output} is an image of its type`);
      } else {
        assert.ok(run.stdout.length > 0, 'an answer');
      }
    }
    if (example.assigns) variables[example.assigns] = run.stdout;
  }

  it('SIGTERM to the npm process: the in-flight request drains (200), npm exits, no server process is left', async () => {
    const picture = (await PICTURES['blue-square.png']!()).toString('base64');
    const body = Buffer.from(JSON.stringify({ images: [picture] }));
    const half = Math.floor(body.length / 2);
    // A request certainly in flight: its body is sent only in part until npm has the signal.
    const req = request(`${npm.url}/v1/tokenize`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length), 'x-request-id': 'sigterm-to-npm' },
    });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.once('error', reject);
      });
      req.once('error', reject);
    });
    answered.catch(() => undefined); // awaited below; a failure before that must not be an unhandled rejection
    req.write(body.subarray(0, half));
    await npm.waitForLog((r) => r.reqId === 'sigterm-to-npm' && r.msg === 'incoming request', 'the in-flight request reaching the server', LOG_TIMEOUT_MS);

    process.kill(npm.pid, 'SIGTERM'); // npm only, as a supervisor would, not its process group
    await npm.waitForLog((r) => typeof r.msg === 'string' && r.msg.startsWith('shutting down'), 'the server starting to drain after SIGTERM to npm (the signal must reach node)', LOG_TIMEOUT_MS);
    req.end(body.subarray(half));

    const response = await answered.catch((error: unknown) => assert.fail(`the in-flight request lost its connection: ${String(error)}`));
    assert.equal(response.status, 200, response.text);
    assert.equal((JSON.parse(response.text) as { tokens: number[][] }).tokens.length, 1);

    const exit = await Promise.race([npm.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`npm did not exit within 60 s of SIGTERM:\n${npm.tail()}`)), 60_000).unref())]);
    assert.deepEqual(exit, { code: 0, signal: null }, `npm's exit; last output:\n${npm.tail()}`);
    assert.ok(npm.records.some((r) => r.msg === 'shut down cleanly'), `the server shut down cleanly:\n${npm.tail()}`);
    assert.deepEqual(await npm.groupMembers(), [], 'processes left in npm start\'s process group');
    assert.equal(await listening(Number(port)), false, `port ${port} still accepts connections`);
  });
});
