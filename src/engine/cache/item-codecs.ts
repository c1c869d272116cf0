/**
 * The value of one cached item of each operation, as bytes (values.ts). Only what the graphs
 * computed is kept: presentation (normalisation, base64, JSON) is the front end's, and what
 * tokenizing a text gives (token count, unknown words) is recomputed from the text itself.
 */
import type { EncodedImage, SourceImageInfo } from '../../images/index.js';
import type { SemanticOutput } from '../../scheduling/scheduler.js';
import type { EncodedImageResult, TokenizedImage } from '../results.js';
import { CorruptValueError, type DecodedRecord, type ValueCodec, decodeRecord, encodeRecord, part } from './values.js';

function sourceOf(record: DecodedRecord): SourceImageInfo {
  const json = record.json as { source?: SourceImageInfo } | null;
  if (json === null || typeof json !== 'object' || typeof json.source !== 'object' || json.source === null) {
    throw new CorruptValueError('no source image information');
  }
  return json.source;
}

/** tokenize: the ids of one image and what was read of it. */
export const TOKENIZED_IMAGE: ValueCodec<TokenizedImage> = {
  encode: (value) => encodeRecord({ json: { source: value.source }, arrays: [value.ids] }),
  decode: (bytes) => {
    const record = decodeRecord(bytes);
    return { source: sourceOf(record), ids: part(record, 0, Uint32Array)! };
  },
};

/** encode_image: ids, pooled embedding and (when asked) per-token features of one image. */
export const ENCODED_IMAGE: ValueCodec<EncodedImageResult> = {
  encode: (value) => encodeRecord({ json: { source: value.source }, arrays: [value.ids, value.embedding, value.features] }),
  decode: (bytes) => {
    const record = decodeRecord(bytes);
    return {
      source: sourceOf(record),
      ids: part(record, 0, Uint32Array)!,
      embedding: part(record, 1, Float32Array)!,
      features: part(record, 2, Float32Array, { optional: true }),
    };
  },
};

/** encode_tokens: the embedding and (when asked) causal features of one id row. */
export const SEMANTIC_OUTPUT: ValueCodec<SemanticOutput> = {
  encode: (value) => encodeRecord({ json: null, arrays: [value.embedding, value.features] }),
  decode: (bytes) => {
    const record = decodeRecord(bytes);
    return { embedding: part(record, 0, Float32Array)!, features: part(record, 1, Float32Array, { optional: true }) };
  },
};

/** encode_text: the embedding of one text. */
export const TEXT_EMBEDDING: ValueCodec<Float32Array> = {
  encode: (value) => encodeRecord({ json: null, arrays: [value] }),
  decode: (bytes) => part(decodeRecord(bytes), 0, Float32Array)!,
};

/** decode: one reconstruction as an encoded file. */
export const ENCODED_FILE: ValueCodec<EncodedImage> = {
  encode: (value) => encodeRecord({ json: { mime: value.mime }, arrays: [value.data] }),
  decode: (bytes) => {
    const record = decodeRecord(bytes);
    const json = record.json as { mime?: unknown } | null;
    if (json === null || typeof json.mime !== 'string') throw new CorruptValueError('no mime type');
    const data = part(record, 0, Uint8Array)!;
    return { mime: json.mime, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  },
};
