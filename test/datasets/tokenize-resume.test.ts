/**
 * `toklip tokenize` as a process that is stopped: SIGTERM stops it cleanly (exit 130, no
 * temporary file left), SIGKILL stops it at an arbitrary moment (temporaries may remain, no
 * shard is half-written under its name); the same command then resumes, keeps the complete
 * shards, and ends with shard files byte-identical to an uninterrupted run. An output folder
 * that cannot be written stops the command at once with a message that says so; a disk that
 * fills up stops it with one, keeping the complete shards, and the run resumes once there is room.
 */
import assert from 'node:assert/strict';
import { type FSWatcher, watch } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runChild, runCli, spawnCli } from './cli.js';
import { makeFolder } from './fixtures.js';

const COMMON = ['--shard-size', '6', '--max-errors', '100', '--progress', 'off'];

async function listing(dir: string) {
  const data = await readdir(join(dir, 'data')).catch(() => []);
  return {
    shards: data.filter((n) => /^shard-\d+\.parquet$/.test(n)).sort(),
    temporaries: [...data, ...(await readdir(join(dir, 'errors')).catch(() => []))].filter((n) => n.endsWith('.tmp')),
    manifest: (await readdir(dir)).includes('manifest.json'),
  };
}

/** Starts the command and sends `signal` once `shards` shards are complete (fs.watch events, no polling). */
async function interruptAfter(input: string, out: string, shards: number, signal: NodeJS.Signals) {
  await mkdir(join(out, 'data'), { recursive: true });
  const child = spawnCli(['tokenize', input, '--out', out, ...COMMON]);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let watcher: FSWatcher | undefined;
  const sent = new Promise<number>((resolve) => {
    watcher = watch(join(out, 'data'), async () => {
      const done = (await listing(out)).shards.length;
      if (done >= shards && child.exitCode === null && !child.killed) {
        child.kill(signal);
        resolve(done);
      }
    });
  });
  const [code, got] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  watcher!.close();
  return { code, signal: got, stderr, shardsWhenSent: await Promise.race([sent, Promise.resolve(-1)]) };
}

async function sameShards(dir: string, reference: string): Promise<void> {
  const { shards } = await listing(reference);
  assert.deepEqual((await listing(dir)).shards, shards);
  for (const name of shards) assert.ok((await readFile(join(dir, 'data', name))).equals(await readFile(join(reference, 'data', name))), `${name} is byte-identical`);
  const withoutDetail = async (d: string) => (await readFile(join(d, 'errors.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => ({ ...JSON.parse(l), detail: undefined }));
  assert.deepEqual(await withoutDetail(dir), await withoutDetail(reference));
}

describe('toklip tokenize, interrupted and resumed', () => {
  let root: string;
  let input: string;
  let reference: string;
  let units: number;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'toklip-resume-'));
    input = join(root, 'photos');
    await makeFolder(input, 120);
    reference = join(root, 'reference');
    const run = await runCli(['tokenize', input, '--out', reference, ...COMMON]);
    assert.equal(run.code, 0, run.stderr);
    units = JSON.parse(await readFile(join(reference, 'manifest.json'), 'utf8')).shards.length;
    assert.ok(units >= 20);
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('SIGKILL mid-way, then the same command: the shards of an uninterrupted run, byte for byte', async () => {
    const out = join(root, 'killed');
    const killed = await interruptAfter(input, out, 2, 'SIGKILL');
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const left = await listing(out);
    assert.ok(left.shards.length >= 2 && left.shards.length < units, `killed mid-way: ${left.shards.length} of ${units} shards complete`);
    assert.equal(left.manifest, false);
    const resumed = await runChild(['tokenize', input, '--out', out, ...COMMON]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`; ${left.shards.length} shard\\(s\\) were already complete`));
    await sameShards(out, reference);
    const end = await listing(out);
    assert.deepEqual(end.temporaries, [], 'the temporaries of the killed run are gone');
    assert.equal(end.manifest, true);
  });

  it('SIGTERM stops cleanly (exit 130, no temporary left), and the same command resumes', async () => {
    const out = join(root, 'terminated');
    const stopped = await interruptAfter(input, out, 1, 'SIGTERM');
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /interrupted; complete shards are kept, run the same command again to resume/);
    const left = await listing(out);
    assert.deepEqual(left.temporaries, []);
    assert.ok(left.shards.length < units);
    const resumed = await runChild(['tokenize', input, '--out', out, ...COMMON]);
    assert.equal(resumed.code, 0, resumed.stderr);
    await sameShards(out, reference);
  });

  it('refuses to add shards of another command to a dataset folder', async () => {
    const run = await runCli(['tokenize', input, '--out', reference, '--shard-size', '7', '--progress', 'off']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /holds the output of another run \(options, units, units_sha256 differ/);
  });

  it('stops with a clear message when the output folder cannot be written', async () => {
    // Root may write anywhere: the command then runs as nobody, against a folder only root may write.
    const asNobody = process.getuid?.() === 0;
    if (asNobody) await chmod(root, 0o755);
    const readOnly = join(root, 'read-only');
    await mkdir(readOnly);
    await chmod(readOnly, 0o555);
    const spawnAs = asNobody ? { uid: 65534, gid: 65534 } : {};
    for (const [out, message] of [
      [readOnly, /toklip tokenize: cannot write to the output folder .*read-only: permission denied: the output folder must be writable by this user \(EACCES\)/],
      [join(readOnly, 'new'), /toklip tokenize: cannot create the output folder .*read-only\/new: permission denied: the output folder must be writable by this user \(EACCES\)/],
    ] as const) {
      const run = await runChild(['tokenize', input, '--out', out, ...COMMON], {}, spawnAs);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'a message, not a stack trace');
    }
    assert.deepEqual(await readdir(readOnly), [], 'nothing written');
  });
});

describe('toklip tokenize on a full disk', () => {
  // A small tmpfs stands for the full disk: mounting one needs root.
  const mountable = process.getuid?.() === 0 && spawnSync('mount', ['--version'], { stdio: 'ignore' }).status === 0;
  it('stops with a clear message, keeps the complete shards, and resumes once there is room', { skip: mountable ? false : 'needs root to mount a small tmpfs' }, async () => {
    const root = await mkdtemp(join(tmpdir(), 'toklip-full-'));
    const disk = join(root, 'disk');
    await mkdir(disk);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
    if (mounted.status !== 0) {
      await rm(root, { recursive: true, force: true });
      return;
    }
    try {
      const input = join(root, 'photos');
      await makeFolder(input, 100);
      const out = join(disk, 'tokens');
      // Features make rows of 2 KiB: the disk fills up within a few shards.
      const args = ['tokenize', input, '--out', out, '--shard-size', '8', '--features', '--max-errors', '100', '--progress', 'off'];
      const full = await runCli(args);
      assert.equal(full.code, 1, full.stderr);
      assert.match(full.stderr, /toklip tokenize: cannot write .*\/(data\/shard-\d+\.parquet|errors\/shard-\d+\.jsonl): no space left on the device \(the shard being written was removed; complete shards are kept\): free space, or choose another --out, and run the same command again to resume \(ENOSPC\)/);
      const left = await listing(out);
      assert.deepEqual(left.temporaries, [], 'no temporary left');
      assert.ok(left.shards.length >= 1, 'the shards completed before the disk filled are kept');
      for (const name of left.shards) assert.ok((await stat(join(out, 'data', name))).size > 0);
      assert.equal(spawnSync('mount', ['-o', 'remount,size=64m', disk]).status, 0);
      const resumed = await runCli(args);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stdout, new RegExp(`; ${left.shards.length} shard\\(s\\) were already complete`));
      assert.equal((await listing(out)).manifest, true);
    } finally {
      spawnSync('umount', [disk]);
      await rm(root, { recursive: true, force: true });
    }
  });
});
