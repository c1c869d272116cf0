/**
 * Token id rows on the wire: JSON integer arrays (passed to the engine as they are, which checks
 * them against the model) or base64 strings of little-endian uint16 (codebook <= 65536) or
 * uint32 ids, decoded here. Every problem is a 422 naming its position.
 */
import { ServiceError } from '../../errors.js';
import { unpackIds } from '../../engine/packing.js';
import { type TokenRowsInput, bytesPerId } from '../../engine/token-rows.js';
import { isBase64Text } from './base64.js';

function invalid(detail: string, row: number): ServiceError {
  return new ServiceError('invalid_tokens', detail, { extensions: { position: { row } } });
}

function decodeRow(text: string, row: number, width: 2 | 4): Uint32Array {
  const compact = text.replace(/\s+/g, '');
  if (!isBase64Text(compact)) throw invalid(`tokens_base64[${row}] is not valid base64`, row);
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.length % width !== 0) {
    throw invalid(`tokens_base64[${row}] has ${bytes.length} bytes, not a multiple of ${width} (uint${width * 8} little-endian ids)`, row);
  }
  return unpackIds(bytes, width);
}

export interface TokenInput {
  readonly tokens?: readonly (readonly number[])[] | undefined;
  readonly tokens_base64?: readonly string[] | undefined;
}

/** The rows of a request (tokens or tokens_base64) and the field they came in, for the engine's checks. */
export function tokenRows(input: TokenInput, codebookSize: number): { rows: TokenRowsInput; field: string } {
  if (input.tokens !== undefined) return { rows: input.tokens, field: 'tokens' };
  const width = bytesPerId(codebookSize);
  return { rows: (input.tokens_base64 ?? []).map((text, row) => decodeRow(text, row, width)), field: 'tokens_base64' };
}
