/**
 * ids_format "base64": little-endian uint16 per id up to 65536 codebook entries, uint32 beyond.
 * The HTTP tests cover uint16 (the fixture's codebook has 64 entries); this checks the uint32
 * branch, which only a codebook larger than 65536 reaches, by encoding and decoding rows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceError } from '../../src/errors.js';
import { bytesPerId, checkTokenRows } from '../../src/engine/token-rows.js';
import { idsToBase64 } from '../../src/engine/packing.js';
import { tokenRows } from '../../src/http/inputs/tokens.js';
import type { ModelBundle } from '../../src/models/registry.js';

/** The fields checkTokenRows reads; the rest of a bundle plays no part here. */
function model(codebookSize: number): ModelBundle {
  return { id: 'big-codebook', numTokens: 4, grid: [2, 2], codebookSize } as unknown as ModelBundle;
}

/** Base64 rows as a request brings them: decoded on the wire, then checked against the model. */
function readBase64Rows(texts: string[], m: ModelBundle): Uint32Array[] {
  const { rows, field } = tokenRows({ tokens_base64: texts }, m.codebookSize);
  return checkTokenRows(rows, m, 'exact', field);
}

describe('token ids as base64', () => {
  it('switches from uint16 to uint32 past 65536 entries', () => {
    assert.equal(bytesPerId(65536), 2);
    assert.equal(bytesPerId(65537), 4);
  });

  it('round-trips uint32 ids of a 2^20-entry codebook, ids above 65535 included', () => {
    const big = model(2 ** 20);
    const ids = Uint32Array.from([0, 65535, 65536, 2 ** 20 - 1]);
    const text = idsToBase64(ids, big.codebookSize);
    const bytes = Buffer.from(text, 'base64');
    assert.equal(bytes.length, 16, 'four bytes per id');
    assert.equal(bytes.readUInt32LE(8), 65536, 'little-endian');
    const [row] = readBase64Rows([text], big);
    assert.deepEqual([...row!], [...ids]);
  });

  it('refuses uint16-sized rows and ids past the codebook with 422', () => {
    const big = model(2 ** 20);
    const uint16Row = idsToBase64(Uint32Array.from([1, 2, 3, 4]), 65536);
    assert.throws(
      () => readBase64Rows([uint16Row], big),
      (e: unknown) => e instanceof ServiceError && e.status === 422 && /has 2 ids/.test(e.message),
    );
    const outside = idsToBase64(Uint32Array.from([0, 1, 2 ** 20, 3]), 2 ** 32);
    assert.throws(
      () => readBase64Rows([outside], big),
      (e: unknown) => e instanceof ServiceError && e.status === 422 && /\[0\]\[2\] = 1048576 is outside/.test(e.message),
    );
  });
});
