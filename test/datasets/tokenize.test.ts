/**
 * `toklip tokenize` end to end on generated inputs (a folder tree, two WebDataset tar shards
 * named by a brace pattern, a list file) holding corrupt, truncated, SVG, over-the-pixel-limit
 * and over-the-byte-limit members and duplicate images, on the fixture bundle tiny-64:
 *
 * - DuckDB opens the shards and finds the documented columns, types and row count;
 * - every row's ids equal the service's /v1/tokenize answer for the same image bytes, and its
 *   sha256, width and height are those of the bytes;
 * - the errors file lists exactly the bad members, with the service's codes;
 * - identical bytes are computed once and give identical rows;
 * - the shards are the same files whatever the batch size and concurrency, through --server
 *   against a running service, and when the run is split with --shard I/N and merged.
 * (tokenize-resume.test.ts: SIGKILL and resume; read-only output folders.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { extract } from 'tar-stream';
import { createReadStream } from 'node:fs';
import type { RunningServer } from '../../src/http/server.js';
import { TINY } from '../helpers/golden.js';
import { postJson, startTestServer } from '../helpers/server.js';
import { runCli } from './cli.js';
import { describe as describeColumns, rows, tokenBytes } from './duckdb.js';
import { type FolderFixture, LIMITS, type TarFixture, makeFolder, makeTar } from './fixtures.js';

interface ErrorLine {
  key: string;
  source: string;
  member: string | null;
  code: string;
  detail: string;
}

async function tarMembers(path: string): Promise<Map<string, Buffer>> {
  const members = new Map<string, Buffer>();
  const tar = extract();
  createReadStream(path).pipe(tar);
  for await (const entry of tar) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    members.set(entry.header.name, Buffer.concat(chunks));
  }
  return members;
}

async function shardFiles(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(join(dir, 'data'))).sort();
  assert.ok(names.every((n) => /^shard-\d+\.parquet$/.test(n)), `data/ holds shards only: ${names.join(' ')}`);
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, 'data', n))] as [string, Buffer])));
}

async function assertSameDataset(dir: string, reference: string, what: string): Promise<void> {
  const [got, want] = [await shardFiles(dir), await shardFiles(reference)];
  assert.deepEqual([...got.keys()], [...want.keys()], `${what}: the same shard files`);
  for (const [name, bytes] of want) assert.ok(got.get(name)!.equals(bytes), `${what}: ${name} is byte-identical`);
  // The same bad images with the same codes; a detail quotes the decoder's message, which libvips
  // words differently from one run to the next for some files (a truncated PNG: 'libpng read error' or 'corrupt data').
  const bad = async (d: string) => (await readFile(join(d, 'errors.jsonl'), 'utf8')).trim().split('\n').map((l) => {
    const { detail: _detail, ...rest } = JSON.parse(l) as ErrorLine;
    return rest;
  });
  assert.deepEqual(await bad(dir), await bad(reference), `${what}: the same bad images in the errors file`);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('toklip tokenize', () => {
  let root: string;
  let folder: FolderFixture;
  let tars: TarFixture[];
  let inputs: string[];
  let reference: string;
  let server: RunningServer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'toklip-datasets-'));
    folder = await makeFolder(join(root, 'photos'), 21);
    tars = [await makeTar(join(root, 'wds', 'data-000.tar'), 1, 9, true), await makeTar(join(root, 'wds', 'data-001.tar'), 2, 6, false)];
    await writeFile(join(root, 'some.txt'), `# three images, relative to this list\nphotos/${folder.good[1]}\n\nphotos/${folder.good[2]}\nphotos/${folder.duplicates[0]}\n`);
    // The brace pattern reaches the command unexpanded (as from a Kubernetes manifest).
    inputs = [join(root, 'photos'), join(root, 'wds', 'data-{000..001}.tar'), join(root, 'some.txt')];
    // No result cache: the --server run computes every image, not the answers of earlier tests.
    server = await startTestServer({ TOKLIP_MAX_IMAGE_PIXELS: String(LIMITS.maxImagePixels), TOKLIP_CACHE_MB: '0' });
    reference = join(root, 'reference');
    const run = await runCli(['tokenize', ...inputs, '--out', reference, '--shard-size', '8', '--progress', 'off', '--max-errors', '20']);
    assert.equal(run.code, 0, run.stderr);
  });

  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Every row's key, source, member, and the bytes it was read from. */
  async function expectedRows(): Promise<{ key: string; source: string; member: string | null; bytes: Buffer }[]> {
    const badNames = new Set(folder.bad.map((b) => b.name));
    const all = [...folder.good, ...folder.bad.map((b) => b.name), ...folder.duplicates].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out = [];
    for (const name of all.filter((n) => !badNames.has(n))) {
      out.push({ key: name.replace(/\.[^.]+$/, ''), source: join(root, 'photos', name), member: null, bytes: await readFile(join(root, 'photos', name)) });
    }
    for (const tar of tars) {
      const members = await tarMembers(tar.path);
      const bad = new Set(tar.bad.map((b) => b.name));
      for (const name of tar.members.filter((m) => !bad.has(m))) {
        const base = name.split('/').pop()!;
        const key = `${name.slice(0, name.length - base.length)}${base.split('.')[0]}`;
        out.push({ key, source: tar.path, member: name, bytes: members.get(name)! });
      }
    }
    for (const line of [folder.good[1]!, folder.good[2]!, folder.duplicates[0]!]) {
      out.push({ key: `photos/${line}`.replace(/\.[^.]+$/, ''), source: join(root, 'photos', line), member: null, bytes: await readFile(join(root, 'photos', line)) });
    }
    return out;
  }

  it('writes Parquet shards that DuckDB reads with the documented columns, types and row count', async () => {
    const expected = await expectedRows();
    assert.deepEqual(await describeColumns(reference), {
      key: 'VARCHAR',
      source: 'VARCHAR',
      member: 'VARCHAR',
      sha256: 'VARCHAR',
      width: 'INTEGER',
      height: 'INTEGER',
      ids: 'USMALLINT[]',
    });
    const got = await rows(reference, 'key, source, member, sha256, width, height, len(ids) AS n');
    assert.equal(got.length, expected.length);
    for (const [i, row] of got.entries()) {
      const want = expected[i]!;
      const meta = await sharp(want.bytes).metadata();
      assert.deepEqual({ ...row, n: Number(row.n) }, { key: want.key, source: want.source, member: want.member, sha256: sha256(want.bytes), width: meta.width, height: meta.height, n: TINY.numTokens }, `row ${i}`);
    }
    // One shard per 8 files of the folder, per tar shard, per 8 lines of the list.
    const manifest = JSON.parse(await readFile(join(reference, 'manifest.json'), 'utf8'));
    const folderFiles = folder.good.length + folder.bad.length + folder.duplicates.length;
    assert.equal(manifest.shards.length, Math.ceil(folderFiles / 8) + tars.length + 1);
    assert.equal(manifest.counts.rows, expected.length);
    assert.deepEqual(manifest.columns.map((c: { name: string; type: string }) => `${c.name}:${c.type}`), [
      'key:string', 'source:string', 'member:string', 'sha256:string', 'width:int32', 'height:int32', 'ids:list<uint16>',
    ]);
    assert.equal(manifest.model.id, 'tiny-64');
    assert.deepEqual(manifest.model.grid, TINY.grid);
    assert.equal(manifest.model.codebook_size, TINY.codebookSize);
    assert.match(manifest.model.bundle_sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(manifest.parts[0].command.slice(0, 2), ['toklip', 'tokenize']);
  });

  it("gives every image the ids of the service's /v1/tokenize", async () => {
    const expected = await expectedRows();
    const got = await rows(reference, 'ids');
    for (let start = 0; start < expected.length; start += 16) {
      const batch = expected.slice(start, start + 16);
      const answer = await postJson(`${server.url}/v1/tokenize`, { images: batch.map((r) => r.bytes.toString('base64')) });
      assert.equal(answer.status, 200, answer.text);
      batch.forEach((_, i) => assert.deepEqual(got[start + i]!.ids, answer.json.tokens[i], `row ${start + i}`));
    }
  });

  it('lists exactly the bad members in the errors file, with the codes the service gives them', async () => {
    const lines = (await readFile(join(reference, 'errors.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as ErrorLine);
    const badFolder = [...folder.bad].sort((a, b) => (a.name < b.name ? -1 : 1));
    const want = [
      ...badFolder.map((b) => ({ source: join(root, 'photos', b.name), member: null, code: b.code })),
      ...tars.flatMap((t) => t.bad.map((b) => ({ source: t.path, member: b.name, code: b.code }))),
    ];
    assert.deepEqual(lines.map((l) => ({ source: l.source, member: l.member, code: l.code })), want);
    for (const line of lines) assert.ok(line.detail.length > 0 && !line.detail.startsWith('images['), line.detail);
    // The service answers the same code for each bad image it is sent.
    for (const line of lines.filter((l) => l.code !== 'payload_too_large')) {
      const bytes = line.member === null ? await readFile(line.source) : (await tarMembers(line.source)).get(line.member)!;
      const answer = await postJson(`${server.url}/v1/tokenize`, { images: [bytes.toString('base64')] });
      assert.equal(answer.json.code, line.code, `${line.source} ${line.member ?? ''}`);
    }
  });

  it('computes identical bytes once: copies share the sha256 and the ids', async () => {
    const got = await rows(reference, 'key, sha256, ids');
    const bySha = new Map<string, unknown[]>();
    for (const row of got) bySha.set(row.sha256 as string, [...(bySha.get(row.sha256 as string) ?? []), row.ids]);
    const copies = [...bySha.values()].filter((ids) => ids.length > 1);
    // photos/img-0000.jpg, its two copies in the folder and the list's copy; each tar's first member and dup/again.jpg; the list's two images.
    assert.ok(copies.some((ids) => ids.length === 4));
    for (const ids of copies) for (const other of ids) assert.deepEqual(other, ids[0]);
    // Every image that reached the model (the good ones and the bad ones under the byte limit),
    // less one per distinct content, was answered from the first computation of its bytes.
    const reached = (await expectedRows()).map((r) => sha256(r.bytes));
    for (const b of folder.bad.filter((b) => b.code !== 'payload_too_large')) reached.push(sha256(await readFile(join(root, 'photos', b.name))));
    for (const tar of tars) {
      const members = await tarMembers(tar.path);
      for (const b of tar.bad.filter((b) => b.code !== 'payload_too_large')) reached.push(sha256(members.get(b.name)!));
    }
    const part = JSON.parse(await readFile(join(reference, 'parts', 'part-00000-of-00001.json'), 'utf8'));
    assert.equal(part.duplicates_reused, reached.length - new Set(reached).size, 'every copy was answered from the first computation');
  });

  it('writes the same shard files whatever the batch size and concurrency', async () => {
    const out = join(root, 'batch-1');
    const run = await runCli(['tokenize', ...inputs, '--out', out, '--shard-size', '8', '--progress', 'off', '--max-batch', '1', '--concurrency', '1', '--dedupe-mb', '0']);
    const bad = folder.bad.length + tars.reduce((n, t) => n + t.bad.length, 0);
    assert.equal(run.code, 3, `more bad images than --max-errors (default 0): exit status 3; ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`bad images: ${bad} \\(`));
    await assertSameDataset(out, reference, 'batch 1, one image at a time, no deduplication');
  });

  it('writes the same shard files through --server against a running service', async () => {
    const out = join(root, 'via-server');
    const run = await runCli(['tokenize', ...inputs, '--out', out, '--shard-size', '8', '--progress', 'off', '--max-errors', '20', '--server', server.url]);
    assert.equal(run.code, 0, run.stderr);
    await assertSameDataset(out, reference, '--server');
  });

  it('--shard parts, in one folder or in their own, merge into the single run', async () => {
    const shared = join(root, 'parts-shared');
    const alone = join(root, 'part-2-alone');
    const common = ['--shard-size', '8', '--progress', 'off', '--max-errors', '20'];
    for (const part of ['0/3', '1/3']) {
      const run = await runCli(['tokenize', ...inputs, '--out', shared, '--shard', part, ...common]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /waiting for other parts/);
    }
    const early = await runCli(['merge', shared]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /shard\(s\) missing/);
    // Part 2 as an Indexed Job pod sees it.
    const last = await runCli(['tokenize', ...inputs, '--out', alone, ...common], { JOB_COMPLETION_INDEX: '2', JOB_COMPLETIONS: '3' });
    assert.equal(last.code, 0, last.stderr);
    const merged = await runCli(['merge', shared, alone]);
    assert.equal(merged.code, 0, merged.stderr);
    await assertSameDataset(shared, reference, 'parts 0, 1 (shared folder) + 2 (own folder), merged');
    const manifest = JSON.parse(await readFile(join(shared, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.parts.map((p: { index: number; count: number }) => `${p.index}/${p.count}`), ['0/3', '1/3', '2/3']);
  });

  it('adds embeddings and per-token features on request, in the same pass, with the same ids', async () => {
    const out = join(root, 'embeddings');
    const run = await runCli(['tokenize', ...inputs, '--out', out, '--shard-size', '8', '--progress', 'off', '--max-errors', '20', '--embeddings', '--features']);
    assert.equal(run.code, 0, run.stderr);
    const types = await describeColumns(out);
    assert.equal(types.embedding, 'FLOAT[]');
    assert.equal(types.features, 'FLOAT[]');
    assert.ok((await tokenBytes(out, 2)).equals(await tokenBytes(reference, 2)), 'the token column is byte-identical');
    const got = await rows(out, 'embedding, features');
    assert.equal(got.length, (await rows(reference, 'key')).length);
    for (const row of got) {
      const embedding = row.embedding as number[];
      assert.equal(embedding.length, TINY.dim);
      assert.ok(Math.abs(Math.hypot(...embedding) - 1) < 1e-5, 'L2-normalised');
      assert.equal((row.features as number[]).length, TINY.numTokens * TINY.dim);
    }
    // The service's embedding of the first image (normalised by default).
    const first = (await expectedRows())[0]!;
    const answer = await postJson(`${server.url}/v1/encode`, { images: [first.bytes.toString('base64')], output: 'both' });
    const served = answer.json.embeddings[0] as number[];
    (got[0]!.embedding as number[]).forEach((v, i) => assert.ok(Math.abs(v - served[i]!) < 1e-5, `embedding[${i}]`));
    (got[0]!.features as number[]).forEach((v, i) => assert.ok(Math.abs(v - (answer.json.features[0] as number[][]).flat()[i]!) < 1e-4, `features[${i}]`));
  });
});
