/**
 * Image inputs in their three forms: JSON strings (base64 or data: URIs), multipart file parts,
 * or one raw image/* body. Bytes only: decoding happens in the image preprocessor.
 */
import type { FastifyRequest } from 'fastify';
import { ServiceError, isServiceError } from '../../errors.js';
import { limitText } from '../limits-text.js';
import { isBase64Text } from './base64.js';
import { ByteBudget, type RemoteImageFetcher } from '../remote-images/fetch-image.js';

const DATA_URI = /^data:([^,;]*)((?:;[^,;]*)*),/;

/**
 * Canonical base64 (standard alphabet, padded, no whitespace), what nearly every client sends,
 * checked in native code: Node's decoder skips characters outside the alphabet, so the bytes
 * re-encode to the text exactly when the text was canonical. Anything else takes the general
 * path below, which accepts every canonical string too.
 */
function decodeCanonicalBase64(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

function decodeBase64(text: string, what: string, row: number): Buffer {
  const canonical = decodeCanonicalBase64(text);
  if (canonical !== undefined) return canonical;
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw new ServiceError('invalid_base64', `${what} is empty: send the image bytes in base64`, { extensions: { position: { row } } });
  if (!isBase64Text(compact)) throw new ServiceError('invalid_base64', `${what} is not valid base64`, { extensions: { position: { row } } });
  return Buffer.from(compact, 'base64');
}

/** URLs (scheme://...): base64 never holds ':', so a scheme marks a URL. */
export function isImageUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

/** One JSON image string: plain base64, or a data:image/...;base64, URI. */
export function decodeImageString(text: string, row: number): Buffer {
  const what = `images[${row}]`;
  if (isImageUrl(text)) {
    throw new ServiceError('url_not_allowed', `${what} is a URL; this server does not fetch remote images (TOKLIP_ALLOW_URLS is off): send the image bytes`, {
      extensions: { position: { row } },
    });
  }
  if (!text.startsWith('data:')) return decodeBase64(text, what, row);
  const match = DATA_URI.exec(text.slice(0, 256));
  if (!match) throw new ServiceError('invalid_data_uri', `${what}: malformed data: URI`, { extensions: { position: { row } } });
  const mime = match[1]!.toLowerCase();
  const params = match[2]!.toLowerCase().split(';').filter(Boolean);
  if (!mime.startsWith('image/')) {
    throw new ServiceError('invalid_data_uri', `${what}: data: URI media type '${mime || 'text/plain'}' is not image/*`, {
      extensions: { position: { row } },
    });
  }
  if (!params.includes('base64')) {
    throw new ServiceError('invalid_data_uri', `${what}: only base64 data: URIs are accepted`, { extensions: { position: { row } } });
  }
  return decodeBase64(text.slice(match[0].length), what, row);
}

/**
 * The images of a JSON body: base64, data: URIs, and (when the server fetches URLs) image URLs,
 * downloaded in parallel within the request's body limit. The first failure cancels the other
 * downloads.
 */
export async function readImageStrings(strings: readonly string[], remote: RemoteImageFetcher | undefined, bodyLimitBytes: number): Promise<Buffer[]> {
  if (remote === undefined || !strings.some(isImageUrl)) return strings.map((s, i) => decodeImageString(s, i));
  const budget = new ByteBudget(bodyLimitBytes);
  const cancel = new AbortController();
  try {
    return await Promise.all(strings.map((s, i) => (isImageUrl(s) ? remote.fetch(s, i, budget, cancel.signal) : Promise.resolve(decodeImageString(s, i)))));
  } finally {
    cancel.abort(new ServiceError('bad_request', 'another image of this request failed'));
  }
}

export interface MultipartInput {
  readonly files: Buffer[];
  readonly fields: Record<string, string | string[]>;
}

/** Longest multipart text field (options and texts; texts hold at most MAX_TEXT_CHARS). */
export const MULTIPART_FIELD_BYTES = 64 * 1024;

/**
 * Reads every part: file parts are images in order, other parts are option fields. Malformed
 * multipart data (no boundary, broken part headers, a body that ends early) is a 400 naming
 * busboy's complaint; limits are 413 (mapped by the error handler).
 */
export async function readMultipart(request: FastifyRequest, bodyLimitBytes: number): Promise<MultipartInput> {
  const files: Buffer[] = [];
  const fields: Record<string, string | string[]> = {};
  let total = 0;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const data = await part.toBuffer();
        total += data.length;
        if (total > bodyLimitBytes) {
          throw new ServiceError('payload_too_large', `request body exceeds the limit of ${limitText(bodyLimitBytes)}`);
        }
        files.push(data);
      } else {
        if (part.valueTruncated) {
          throw new ServiceError('payload_too_large', `multipart field '${part.fieldname}' is longer than ${MULTIPART_FIELD_BYTES} bytes`);
        }
        if (typeof part.value !== 'string') {
          throw new ServiceError('bad_request', `multipart field '${part.fieldname}' must be plain text, not ${part.mimetype}`);
        }
        const existing = fields[part.fieldname];
        fields[part.fieldname] = existing === undefined ? part.value : [...(Array.isArray(existing) ? existing : [existing]), part.value];
      }
    }
  } catch (error) {
    if (isServiceError(error) || /^FST_/.test(String((error as { code?: unknown }).code))) throw error;
    throw new ServiceError('bad_request', `malformed multipart/form-data body: ${(error as Error).message}`);
  }
  return { files, fields };
}
