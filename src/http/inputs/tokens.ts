/**
 * Token id rows in and out: JSON integer arrays or base64 strings of little-endian uint16
 * (codebook <= 65536) or uint32 ids. Every problem is a 422 naming its position.
 */
import { ServiceError } from '../../errors.js';
import type { ModelBundle } from '../../models/registry.js';

export function bytesPerId(codebookSize: number): 2 | 4 {
  return codebookSize <= 65536 ? 2 : 4;
}

function invalid(detail: string, row: number, index?: number): ServiceError {
  return new ServiceError('invalid_tokens', detail, { extensions: { position: index === undefined ? { row } : { row, index } } });
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function decodeRow(text: string, row: number, width: 2 | 4): Uint32Array {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    throw invalid(`tokens_base64[${row}] is not valid base64`, row);
  }
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.length % width !== 0) {
    throw invalid(`tokens_base64[${row}] has ${bytes.length} bytes, not a multiple of ${width} (uint${width * 8} little-endian ids)`, row);
  }
  const ids = new Uint32Array(bytes.length / width);
  for (let i = 0; i < ids.length; i++) ids[i] = width === 2 ? bytes.readUInt16LE(i * 2) : bytes.readUInt32LE(i * 4);
  return ids;
}

export interface TokenInput {
  readonly tokens?: readonly (readonly number[])[] | undefined;
  readonly tokens_base64?: readonly string[] | undefined;
}

/**
 * The id rows of a request, checked against the model: each row holds exactly N ids
 * (exact) or 1..N ids (a raster-order prefix), each id in [0, codebook size).
 */
export function readTokenRows(input: TokenInput, model: ModelBundle, length: 'exact' | 'prefix'): Uint32Array[] {
  const field = input.tokens !== undefined ? 'tokens' : 'tokens_base64';
  const n = model.numTokens;
  const checkLength = (count: number, row: number) => {
    if (length === 'exact' ? count !== n : count < 1 || count > n) {
      const wanted = length === 'exact' ? `exactly ${n}` : `1 to ${n}`;
      throw invalid(`${field}[${row}] has ${count} ids; ${model.id} needs ${wanted} (grid ${model.grid.join('x')})`, row);
    }
  };
  const checkId = (id: number, row: number, index: number) => {
    // JSON numbers are checked before any conversion: 2^32 must not wrap around to 0.
    if (!(id < model.codebookSize)) {
      throw invalid(`${field}[${row}][${index}] = ${id} is outside the codebook [0, ${model.codebookSize})`, row, index);
    }
  };
  if (input.tokens !== undefined) {
    return input.tokens.map((ids, row) => {
      checkLength(ids.length, row);
      ids.forEach((id, index) => checkId(id, row, index));
      return Uint32Array.from(ids);
    });
  }
  return (input.tokens_base64 ?? []).map((text, row) => {
    const ids = decodeRow(text, row, bytesPerId(model.codebookSize));
    checkLength(ids.length, row);
    ids.forEach((id, index) => checkId(id, row, index));
    return ids;
  });
}

export function idsToBase64(ids: Uint32Array, codebookSize: number): string {
  const width = bytesPerId(codebookSize);
  const bytes = Buffer.allocUnsafe(ids.length * width);
  for (let i = 0; i < ids.length; i++) {
    if (width === 2) bytes.writeUInt16LE(ids[i]!, i * 2);
    else bytes.writeUInt32LE(ids[i]!, i * 4);
  }
  return bytes.toString('base64');
}
