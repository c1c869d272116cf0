/**
 * DuckDB (its Node package, a reader written independently of the Parquet writer the command
 * uses) opens the command's output in the tests: what a user's pandas, pyarrow or DuckDB sees.
 */
import { DuckDBInstance } from '@duckdb/node-api';

export type Row = Record<string, unknown>;

export async function query(sql: string): Promise<Row[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Row[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Column names and DuckDB types of the shards of a dataset folder. */
export async function describe(dir: string): Promise<Record<string, string>> {
  const rows = await query(`DESCRIBE SELECT * FROM read_parquet('${dir}/data/*.parquet')`);
  return Object.fromEntries(rows.map((r) => [r.column_name as string, r.column_type as string]));
}

/** Every row of a dataset folder in file and row order, the columns asked for. */
export async function rows(dir: string, columns: string): Promise<Row[]> {
  return query(`SELECT ${columns} FROM read_parquet('${dir}/data/*.parquet', filename = true, file_row_number = true) ORDER BY filename, file_row_number`);
}

/** The token column of a dataset, every id in order, as the little-endian bytes of its type. */
export async function tokenBytes(dir: string, bytesPerId: 2 | 4): Promise<Buffer> {
  const ids = (await rows(dir, 'ids')).flatMap((r) => r.ids as number[]);
  const out = Buffer.alloc(ids.length * bytesPerId);
  ids.forEach((id, i) => (bytesPerId === 2 ? out.writeUInt16LE(id, i * 2) : out.writeUInt32LE(id, i * 4)));
  return out;
}
