/**
 * One Parquet shard, written incrementally and made visible atomically: rows go to a temporary
 * file next to the final one (a hidden name that `*.parquet` globs skip), a row group at a time,
 * so memory holds one row group at most; commit() writes the footer, syncs the file and renames
 * it to its final name. A shard therefore exists under its final name only when it is complete,
 * and its bytes depend only on its rows (no times, no paths in the file).
 *
 * Written with hyparquet-writer (pure JavaScript, no native code; docs/datasets.md says why).
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CompressionCodec, SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { OutputError } from './output-errors.js';

/** A top-level column: its schema elements (one for a flat column, three for a list) and codec. */
export interface ColumnSpec {
  readonly name: string;
  readonly schema: readonly SchemaElement[];
  readonly codec: CompressionCodec;
}

/** Values of one row, by column name: strings, numbers, null (optional columns) or lists. */
export type RowValues = Readonly<Record<string, string | number | null | readonly number[] | readonly string[]>>;

export const WRITER_NAME = 'toklip-serve (hyparquet-writer)';

/** A flat required or optional column. */
export function flatColumn(name: string, element: Omit<SchemaElement, 'name'>, codec: CompressionCodec = 'SNAPPY'): ColumnSpec {
  return { name, schema: [{ name, repetition_type: 'REQUIRED', ...element }], codec };
}

/** A required list of required elements (the three-level LIST layout every reader knows). */
export function listColumn(name: string, element: Omit<SchemaElement, 'name' | 'repetition_type'>, codec: CompressionCodec = 'SNAPPY'): ColumnSpec {
  return {
    name,
    schema: [
      { name, repetition_type: 'REQUIRED', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', repetition_type: 'REQUIRED', ...element },
    ],
    codec,
  };
}

/** A ByteWriter whose row groups go to a file as they are finished. */
class FileByteWriter extends ByteWriter {
  constructor(private readonly handle: FileHandle) {
    super(1 << 20);
  }

  async flush(): Promise<void> {
    if (this.index === 0) return;
    const bytes = new Uint8Array(this.buffer, 0, this.index);
    let written = 0;
    while (written < bytes.length) written += (await this.handle.write(bytes, written)).bytesWritten;
    this.index = 0;
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

export function temporaryPath(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

export class ShardWriter {
  private readonly columns: readonly ColumnSpec[];
  private readonly rowGroupRows: number;
  private pending: Record<string, unknown[]>;
  private pendingRows = 0;
  private rows = 0;
  private closed = false;

  private constructor(
    readonly finalPath: string,
    private readonly tempPath: string,
    private readonly handle: FileHandle,
    private readonly parquet: ParquetWriter,
    columns: readonly ColumnSpec[],
    rowGroupRows: number,
  ) {
    this.columns = columns;
    this.rowGroupRows = rowGroupRows;
    this.pending = this.emptyGroup();
  }

  /** Opens the temporary file of `finalPath`. */
  static async open(finalPath: string, columns: readonly ColumnSpec[], rowGroupRows: number): Promise<ShardWriter> {
    if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) throw new RangeError(`rowGroupRows must be a positive integer, got ${rowGroupRows}`);
    const tempPath = temporaryPath(finalPath);
    let handle: FileHandle;
    try {
      handle = await open(tempPath, 'wx');
    } catch (error) {
      throw OutputError.from(error, `create ${finalPath}`);
    }
    const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }, ...columns.flatMap((c) => c.schema)];
    const parquet = new ParquetWriter({ writer: new FileByteWriter(handle), schema, createdBy: WRITER_NAME, statistics: false });
    return new ShardWriter(finalPath, tempPath, handle, parquet, columns, rowGroupRows);
  }

  get rowCount(): number {
    return this.rows;
  }

  async append(row: RowValues): Promise<void> {
    for (const column of this.columns) this.pending[column.name]!.push(row[column.name] ?? null);
    this.pendingRows++;
    this.rows++;
    if (this.pendingRows >= this.rowGroupRows) await this.writeGroup();
  }

  /** Footer, fsync, rename: the shard is complete under its final name. */
  async commit(): Promise<void> {
    try {
      await this.writeGroup();
      await this.parquet.finish();
      await this.handle.sync();
      await this.close();
      await rename(this.tempPath, this.finalPath);
    } catch (error) {
      await this.abort();
      throw OutputError.from(error, `write ${this.finalPath}`);
    }
  }

  /** Closes and removes the temporary file (nothing is left that looks like a shard). */
  async abort(): Promise<void> {
    await this.close().catch(() => undefined);
    await unlink(this.tempPath).catch(() => undefined);
  }

  private emptyGroup(): Record<string, unknown[]> {
    return Object.fromEntries(this.columns.map((c) => [c.name, []]));
  }

  private async writeGroup(): Promise<void> {
    if (this.pendingRows === 0) return;
    const columnData = this.columns.map((c) => ({ name: c.name, data: this.pending[c.name]!, codec: c.codec }));
    this.pending = this.emptyGroup();
    this.pendingRows = 0;
    try {
      await this.parquet.write({ columnData, rowGroupSize: Number.MAX_SAFE_INTEGER });
    } catch (error) {
      throw OutputError.from(error, `write ${this.finalPath}`);
    }
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
