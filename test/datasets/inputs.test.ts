/** The reader's plan: inputs -> ordered units with WebDataset keys, the same on every machine. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputError, expandInputs, fileKey, memberKey, planInputs } from '../../src/datasets/inputs.js';

describe('dataset inputs', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'toklip-inputs-'));
    for (const name of ['b.jpg', 'a-b/x.png', 'a/y.webp', 'a/z.JPG', 'a/skip.txt', 'c.svg']) {
      await mkdir(join(root, 'photos', name, '..'), { recursive: true });
      await writeFile(join(root, 'photos', name), 'x');
    }
    for (const n of ['000', '001', '002']) await writeFile(join(root, `data-${n}.tar`), 'x'.repeat(Number(n) + 1));
    await writeFile(join(root, 'list.txt'), '# comment\nphotos/b.jpg\n\n/abs/path/q.png\r\n');
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('keys: tar members up to the first dot of the base name, files without their last extension', () => {
    assert.equal(memberKey('dir/sample.0001.seg.png'), 'dir/sample');
    assert.equal(memberKey('abc.jpg'), 'abc');
    assert.equal(memberKey('noext'), 'noext');
    assert.equal(fileKey('a/b.c/img.v2.jpg'), 'a/b.c/img.v2');
  });

  it('expands brace patterns, numeric ranges keeping their zero padding', () => {
    assert.deepEqual(expandInputs(['d-{000..002}.tar', 'x-{a,b}.tar', 'plain.tar']), ['d-000.tar', 'd-001.tar', 'd-002.tar', 'x-a.tar', 'x-b.tar', 'plain.tar']);
  });

  it('plans folders in code-unit order of their paths (recursive, image extensions only, refused formats included), cut by the shard size', async () => {
    const plan = await planInputs([join(root, 'photos')], 2);
    const files = plan.units.map((u) => (u.kind === 'files' ? u.files.map((f) => f.key) : []));
    assert.deepEqual(files, [['a-b/x', 'a/y'], ['a/z', 'b'], ['c']]);
    assert.deepEqual(plan.units.map((u) => u.index), [0, 1, 2]);
  });

  it('plans one unit per tar shard and list files relative to their folder, in argument order', async () => {
    const plan = await planInputs([join(root, 'data-{000..002}.tar'), join(root, 'list.txt')], 10);
    assert.deepEqual(
      plan.units.map((u) => (u.kind === 'tar' ? `tar ${u.path.slice(root.length + 1)} ${u.bytes}` : `files ${u.files.map((f) => `${f.path}=${f.key}`).join(' ')}`)),
      ['tar data-000.tar 1', 'tar data-001.tar 2', 'tar data-002.tar 3', `files ${join(root, 'photos/b.jpg')}=photos/b /abs/path/q.png=/abs/path/q`],
    );
  });

  it('names a missing input and refuses a bad shard size', async () => {
    await assert.rejects(planInputs([join(root, 'data-{000..009}.tar')], 10), (e: Error) => e instanceof InputError && /input not found: .*data-003\.tar/.test(e.message));
    await assert.rejects(planInputs([root], 0), /--shard-size must be a positive integer/);
  });
});
