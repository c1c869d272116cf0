/**
 * Token id rows checked against a model: each row holds exactly N ids (decode) or 1..N ids (a
 * raster-order prefix, for embeddings), each id in [0, codebook size). Every problem is a 422
 * naming its position, in the words of the field the ids came in.
 */
import { ServiceError } from '../errors.js';
import type { ModelBundle } from '../models/registry.js';

/** Bytes per id when ids are stored or sent packed: little-endian uint16 for codebooks of at most 65536 entries, else uint32. */
export function bytesPerId(codebookSize: number): 2 | 4 {
  return codebookSize <= 65536 ? 2 : 4;
}

/** Rows as they arrive: JSON number arrays (checked before any conversion) or decoded ids. */
export type TokenRowsInput = readonly ArrayLike<number>[];

function invalid(detail: string, row: number, index?: number): ServiceError {
  return new ServiceError('invalid_tokens', detail, { extensions: { position: index === undefined ? { row } : { row, index } } });
}

export function checkTokenRows(rows: TokenRowsInput, model: ModelBundle, length: 'exact' | 'prefix', field = 'tokens'): Uint32Array[] {
  const n = model.numTokens;
  return rows.map((ids, row) => {
    const count = ids.length;
    if (length === 'exact' ? count !== n : count < 1 || count > n) {
      const wanted = length === 'exact' ? `exactly ${n}` : `1 to ${n}`;
      throw invalid(`${field}[${row}] has ${count} ids; ${model.id} needs ${wanted} (grid ${model.grid.join('x')})`, row);
    }
    for (let index = 0; index < count; index++) {
      const id = ids[index]!;
      // Numbers are checked before any conversion: 2^32 must not wrap around to 0.
      if (!(Number.isInteger(id) && id >= 0 && id < model.codebookSize)) {
        throw invalid(`${field}[${row}][${index}] = ${id} is outside the codebook [0, ${model.codebookSize})`, row, index);
      }
    }
    return ids instanceof Uint32Array ? ids : Uint32Array.from(ids);
  });
}
