/**
 * JSON image strings: the native fast path for canonical base64 must accept exactly what the
 * general (whitespace-tolerant, URL-safe, unpadded) decoder accepts, with the same bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ServiceError } from '../../src/errors.js';
import { decodeImageString } from '../../src/http/inputs/images.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ServiceError, String(error));
    return error.code;
  }
}

describe('decodeImageString', () => {
  it('decodes canonical, unpadded, URL-safe and wrapped base64 to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        const canonical = Buffer.from(bytes).toString('base64');
        const variants = [
          canonical,
          canonical.replace(/=+$/, ''),
          Buffer.from(bytes).toString('base64url'),
          canonical.replace(/(.{16})/g, '$1\r\n'),
          `data:image/png;base64,${canonical}`,
        ];
        for (const text of variants) assert.deepEqual(decodeImageString(text, 0), Buffer.from(bytes), text);
      }),
    );
  });

  it('refuses empty strings, characters outside the alphabet and impossible lengths', () => {
    const image = Buffer.from('an image, as far as this test is concerned').toString('base64');
    assert.equal(code(() => decodeImageString('', 0)), 'invalid_base64');
    assert.equal(code(() => decodeImageString('   ', 0)), 'invalid_base64');
    assert.equal(code(() => decodeImageString(`${image.slice(0, 8)}!${image.slice(9)}`, 0)), 'invalid_base64');
    assert.equal(code(() => decodeImageString(`${image.slice(0, 8)}\u0000${image.slice(8)}`, 0)), 'invalid_base64');
    assert.equal(code(() => decodeImageString('AAAAA', 0)), 'invalid_base64');
    assert.equal(code(() => decodeImageString('====', 0)), 'invalid_base64');
    // Same length as a canonical string, one character changed to a non-alphabet one.
    assert.equal(code(() => decodeImageString(`${image.slice(0, -4)}AA*=`, 0)), 'invalid_base64');
  });

  it('accepts non-canonical trailing bits as before (the general path)', () => {
    // 'QR==' and 'QQ==' both decode to 'A': only 'QQ==' is canonical.
    assert.deepEqual(decodeImageString('QR==', 0), Buffer.from('A'));
  });
});
