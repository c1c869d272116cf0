/**
 * Parquet shards: visible under their name only once complete, a row group at a time, the same
 * bytes for the same rows, and readable by DuckDB with the declared types (empty ones too).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OutputError } from '../../src/datasets/output-errors.js';
import { ShardWriter, flatColumn, listColumn } from '../../src/datasets/parquet-shard.js';
import { query } from './duckdb.js';

const COLUMNS = [
  flatColumn('key', { type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  flatColumn('member', { type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }),
  listColumn('ids', { type: 'INT32', converted_type: 'UINT_16' }),
  listColumn('wide', { type: 'INT32', converted_type: 'UINT_32' }),
  listColumn('embedding', { type: 'FLOAT' }, 'UNCOMPRESSED'),
];

async function write(path: string, rows: number): Promise<void> {
  const writer = await ShardWriter.open(path, COLUMNS, 4);
  for (let i = 0; i < rows; i++) {
    await writer.append({ key: `k${i}`, member: i % 2 ? null : `m${i}`, ids: [i, 65535, 0], wide: [70000 + i, 2 ** 31 - 1], embedding: [i / 4, -0.5] });
  }
  assert.ok(!(await readdir(join(path, '..'))).includes(basename(path)), 'not visible before commit');
  await writer.commit();
}

describe('Parquet shards', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'toklip-parquet-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('are readable by DuckDB with the declared types, over several row groups, and deterministic', async () => {
    await write(join(dir, 'shard-00000.parquet'), 10);
    const path = join(dir, 'shard-00000.parquet');
    const rows = await query(`SELECT key, member, ids, wide, embedding FROM '${path}'`);
    assert.equal(rows.length, 10);
    assert.deepEqual(rows[3], { key: 'k3', member: null, ids: [3, 65535, 0], wide: [70003, 2147483647], embedding: [0.75, -0.5] });
    const types = await query(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '${path}')`);
    assert.deepEqual(types.map((t) => t.column_type), ['VARCHAR', 'VARCHAR', 'USMALLINT[]', 'UINTEGER[]', 'FLOAT[]']);
    const groups = await query(`SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path}')`);
    assert.equal(Number(groups[0]!.n), 3, 'row groups of 4 rows');
    const again = join(dir, 'again');
    await rm(again, { recursive: true, force: true });
    await mkdir(again);
    await write(join(again, 'shard-00000.parquet'), 10);
    assert.ok((await readFile(join(again, 'shard-00000.parquet'))).equals(await readFile(path)), 'same rows, same bytes');
  });

  it('can be empty', async () => {
    const path = join(dir, 'shard-00001.parquet');
    await write(path, 0);
    assert.deepEqual(await query(`SELECT count(*)::INTEGER AS n FROM '${path}'`), [{ n: 0 }]);
  });

  it('leave nothing behind when aborted', async () => {
    const writer = await ShardWriter.open(join(dir, 'shard-00002.parquet'), COLUMNS, 4);
    await writer.append({ key: 'k', member: null, ids: [1], wide: [1], embedding: [1] });
    assert.ok((await readdir(dir)).some((n) => /^\.shard-00002\.parquet\..+\.tmp$/.test(n)), 'a hidden temporary while writing');
    await writer.abort();
    assert.ok(!(await readdir(dir)).some((n) => n.includes('shard-00002')));
  });

  it('name what could not be written and what to do', () => {
    const full = OutputError.from(Object.assign(new Error('x'), { code: 'ENOSPC' }), 'write out/shard-00003.parquet');
    assert.equal(full.message, 'cannot write out/shard-00003.parquet: no space left on the device (the shard being written was removed; complete shards are kept): free space, or choose another --out, and run the same command again to resume (ENOSPC)');
    assert.match(OutputError.from(Object.assign(new Error('x'), { code: 'EROFS' }), 'create out').message, /read-only: choose an --out folder on a writable volume \(EROFS\)/);
  });
});
