/** The reader: tar shards (plain and gzipped, broken ones too) and files, with the byte limit checked before reading. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { pack } from 'tar-stream';
import { type InputItem, readUnit } from '../../src/datasets/reader.js';

async function tarBytes(entries: { name: string; body: string }[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const ended = new Promise<void>((resolve) => tar.on('end', () => resolve()));
  for (const e of entries) tar.entry({ name: e.name }, e.body);
  tar.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function collect(items: AsyncIterable<InputItem>) {
  const out: { key: string; member: string | null; result: string }[] = [];
  for await (const item of items) {
    const result = await item.read().then((b) => Buffer.from(b).toString(), (e: Error & { code: string }) => `${e.code}: ${e.message}`);
    out.push({ key: item.key, member: item.member, result });
  }
  return out;
}

describe('dataset reader', () => {
  let dir: string;
  const entries = [
    { name: 'a/s1.jpg', body: 'one' },
    { name: 'a/s1.json', body: '{}' },
    { name: 's2.seg.png', body: 'two' },
    { name: 'big.png', body: 'x'.repeat(100) },
  ];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'toklip-reader-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads image members in archive order, skips the others, refuses oversized members from their header', async () => {
    const bytes = await tarBytes(entries);
    for (const name of ['d.tar', 'd.tar.gz']) {
      const path = join(dir, name);
      await writeFile(path, name.endsWith('.gz') ? gzipSync(bytes) : bytes);
      assert.deepEqual(await collect(readUnit({ index: 0, kind: 'tar', path, bytes: 0 }, { maxBytes: 10 })), [
        { key: 'a/s1', member: 'a/s1.jpg', result: 'one' },
        { key: 's2', member: 's2.seg.png', result: 'two' },
        { key: 'big', member: 'big.png', result: 'payload_too_large: The image is 100 bytes; the limit is 10 bytes per image.' },
      ], name);
    }
  });

  it('keeps the members before a break in the archive and records the break', async () => {
    const bytes = await tarBytes(entries);
    const path = join(dir, 'cut.tar');
    await writeFile(path, bytes.subarray(0, 1024 + 100));
    const got = await collect(readUnit({ index: 0, kind: 'tar', path, bytes: 0 }, { maxBytes: 1000 }));
    assert.deepEqual(got[0], { key: 'a/s1', member: 'a/s1.jpg', result: 'one' });
    assert.equal(got.length, 2);
    assert.match(got[1]!.result, /^invalid_archive: the archive is unreadable after its last good member: /);
  });

  it('reads files, refusing unreadable and oversized ones', async () => {
    await writeFile(join(dir, 'ok.png'), 'fine');
    await writeFile(join(dir, 'large.png'), 'x'.repeat(50));
    await mkdir(join(dir, 'folder.jpg'));
    const files = ['ok.png', 'large.png', 'folder.jpg', 'missing.jpg'].map((f) => ({ path: join(dir, f), key: f.split('.')[0]! }));
    const got = await collect(readUnit({ index: 0, kind: 'files', files, origin: dir }, { maxBytes: 10 }));
    assert.deepEqual(got.map((g) => g.result.split(':')[0]), ['fine', 'payload_too_large', 'unreadable_file', 'unreadable_file']);
  });
});
