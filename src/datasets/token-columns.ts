/**
 * The columns of a token dataset (one row per image), as written to Parquet and as documented
 * in manifest.json and docs/datasets.md. Ids are unsigned 16-bit integers when the codebook has
 * at most 65536 entries, else unsigned 32-bit (bytesPerId, as the HTTP API's base64 ids).
 */
import { bytesPerId } from '../engine/token-rows.js';
import type { ColumnDescription } from './manifest.js';
import type { DatasetModel, MapOptions, MappedImage } from './mapper.js';
import { type ColumnSpec, type RowValues, flatColumn, listColumn } from './parquet-shard.js';
import type { InputItem } from './reader.js';

const STRING = { type: 'BYTE_ARRAY', converted_type: 'UTF8' } as const;

export interface TokenColumns {
  readonly specs: readonly ColumnSpec[];
  readonly descriptions: readonly ColumnDescription[];
  readonly idType: 'uint16' | 'uint32';
  /** Rows per row group: about 32 MiB of values at most, 1000 rows at most. */
  readonly rowGroupRows: number;
}

export function tokenColumns(model: DatasetModel, options: MapOptions): TokenColumns {
  const idType = bytesPerId(model.codebookSize) === 2 ? 'uint16' : 'uint32';
  const n = model.numTokens;
  const d = model.embeddingDim;
  const specs: ColumnSpec[] = [
    flatColumn('key', STRING),
    flatColumn('source', STRING),
    flatColumn('member', { ...STRING, repetition_type: 'OPTIONAL' }),
    flatColumn('sha256', STRING),
    flatColumn('width', { type: 'INT32' }),
    flatColumn('height', { type: 'INT32' }),
    // converted_type alone: every reader maps UINT_16 / UINT_32 (DuckDB refuses hyparquet-writer's INTEGER logical type).
    listColumn('ids', { type: 'INT32', converted_type: idType === 'uint16' ? 'UINT_16' : 'UINT_32' }),
  ];
  const descriptions: ColumnDescription[] = [
    { name: 'key', type: 'string', nullable: false, description: 'WebDataset key: the tar member name up to the first dot of its base name, or the file path (relative to its folder, or as listed) without its extension' },
    { name: 'source', type: 'string', nullable: false, description: 'the image file, or the tar shard holding the member, as named on the command line' },
    { name: 'member', type: 'string', nullable: true, description: 'the tar member name; null for files' },
    { name: 'sha256', type: 'string', nullable: false, description: 'sha256 of the image bytes, 64 hex digits (equal values: identical images, computed once)' },
    { name: 'width', type: 'int32', nullable: false, description: 'width of the original image as displayed (EXIF orientation applied), before resizing' },
    { name: 'height', type: 'int32', nullable: false, description: 'height of the original image as displayed' },
    { name: 'ids', type: `list<${idType}>`, nullable: false, description: `${n} token ids in raster order (grid ${model.grid.join('x')}), each below ${model.codebookSize}` },
  ];
  let rowBytes = 256 + n * (idType === 'uint16' ? 2 : 4);
  if (options.embeddings) {
    // Floats do not compress: no codec, no CPU spent trying.
    specs.push(listColumn('embedding', { type: 'FLOAT' }, 'UNCOMPRESSED'));
    descriptions.push({ name: 'embedding', type: 'list<float32>', nullable: false, description: `${d} floats: the L2-normalised pooled image embedding (as /v1/encode answers by default)` });
    rowBytes += 4 * d;
  }
  if (options.features) {
    specs.push(listColumn('features', { type: 'FLOAT' }, 'UNCOMPRESSED'));
    descriptions.push({ name: 'features', type: 'list<float32>', nullable: false, description: `${n * d} floats: per-token features [${n}, ${d}] row-major, not normalised` });
    rowBytes += 4 * n * d;
  }
  return { specs, descriptions, idType, rowGroupRows: Math.max(1, Math.min(1000, Math.floor((32 << 20) / rowBytes))) };
}

export function tokenRow(item: InputItem, sha256: string, mapped: MappedImage): RowValues {
  return {
    key: item.key,
    source: item.source,
    member: item.member,
    sha256,
    width: mapped.width,
    height: mapped.height,
    ids: Array.from(mapped.ids),
    ...(mapped.embedding ? { embedding: Array.from(mapped.embedding) } : {}),
    ...(mapped.features ? { features: Array.from(mapped.features) } : {}),
  };
}
