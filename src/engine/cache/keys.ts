/**
 * Content-addressed keys of cached results. A key names everything a result depends on:
 *
 *   <format>:<model id>:<bundle digest>:<operation>:<variant>:<sha256 of the input>
 *
 * - format: the layout of cached values (values.ts); bumped when it or the preprocessing
 *   changes, so that a new service never reads values an older one wrote to a shared store.
 * - model id and bundle digest (sha256 of the bundle's manifest.json, which lists every file's
 *   sha256): a changed bundle never reads an older bundle's results.
 * - operation: which graphs ran (tokenize: vq_encoder; encode_image: vq_encoder and
 *   semantic_encoder; encode_tokens: semantic_encoder; encode_text: text_encoder; decode:
 *   vq_decoder and the file encoder).
 * - variant: every option that changes the result (features asked for; file format and quality).
 * - the input's sha256: the raw image bytes as sent (before decoding, so a hit skips decoding),
 *   the token ids (uint32 little-endian), or the text (UTF-8).
 */
import { createHash } from 'node:crypto';
import type { ModelBundle } from '../../models/registry.js';

/** Layout of cached values (values.ts) and of the preprocessing whose results they hold. */
export const CACHE_FORMAT = 'v1';

export const CACHED_OPERATIONS = ['tokenize', 'encode_image', 'encode_tokens', 'encode_text', 'decode'] as const;
export type CachedOperation = (typeof CACHED_OPERATIONS)[number];

/** Bytes of an input as hashed: image files and texts as they are, id rows as uint32 LE. */
export type Content = Uint8Array | string;

export function sha256Hex(content: Content): string {
  return createHash('sha256').update(content).digest('hex');
}

/** The bytes of a token id row as hashed (little-endian uint32 on every platform Node runs on). */
export function idsContent(ids: Uint32Array): Uint8Array {
  return new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
}

/** The part of a key shared by every item of one (model, operation, variant). */
export function keyScope(model: Pick<ModelBundle, 'id' | 'digest'>, operation: CachedOperation, variant: string): string {
  return `${CACHE_FORMAT}:${model.id}:${model.digest}:${operation}:${variant}:`;
}

export function itemKey(scope: string, content: Content): string {
  return scope + sha256Hex(content);
}
