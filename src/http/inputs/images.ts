/**
 * Image inputs in their three forms: JSON strings (base64 or data: URIs), multipart file parts,
 * or one raw image/* body. Bytes only: decoding happens in the image preprocessor.
 */
import type { FastifyRequest } from 'fastify';
import { ServiceError } from '../../errors.js';
import type { ImagePreprocessor, PreprocessSpec } from '../../images/index.js';
import type { ModelBundle } from '../../models/registry.js';

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URI = /^data:([^,;]*)((?:;[^,;]*)*),/;

function decodeBase64(text: string, what: string, row: number): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0 || !BASE64.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    throw new ServiceError('invalid_base64', `${what} is not valid base64`, { extensions: { position: { row } } });
  }
  return Buffer.from(compact, 'base64');
}

/** One JSON image string: plain base64, or a data:image/...;base64, URI. */
export function decodeImageString(text: string, row: number): Buffer {
  const what = `images[${row}]`;
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

export interface MultipartInput {
  readonly files: Buffer[];
  readonly fields: Record<string, string | string[]>;
}

/** Reads every part: file parts are images in order, other parts are option fields. */
export async function readMultipart(request: FastifyRequest, bodyLimitBytes: number): Promise<MultipartInput> {
  const files: Buffer[] = [];
  const fields: Record<string, string | string[]> = {};
  let total = 0;
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      const data = await part.toBuffer();
      total += data.length;
      if (total > bodyLimitBytes) {
        throw new ServiceError('payload_too_large', `request body exceeds the limit of ${bodyLimitBytes} bytes`);
      }
      files.push(data);
    } else {
      const value = String(part.value);
      const existing = fields[part.fieldname];
      fields[part.fieldname] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
  }
  return { files, fields };
}

export function preprocessSpec(model: ModelBundle): PreprocessSpec {
  const p = model.manifest.preprocessing;
  return { size: model.imageSize, resize: p.resize, interpolation: p.interpolation, crop: p.crop };
}

/** Decodes and preprocesses every image in parallel (off the event loop); errors name the image. */
export async function preprocessAll(
  preprocessor: ImagePreprocessor,
  images: readonly Uint8Array[],
  model: ModelBundle,
  signal?: AbortSignal,
): Promise<{ rgb: Uint8Array[]; ms: number }> {
  const started = performance.now();
  const spec = preprocessSpec(model);
  const rgb = await Promise.all(
    images.map((bytes, row) =>
      preprocessor.preprocess(bytes, spec, signal ? { signal } : {}).then(
        (image) => image.rgb,
        (error: unknown) => {
          if (error instanceof ServiceError) {
            throw new ServiceError(error.code, `images[${row}]: ${error.message}`, {
              extensions: { ...error.extensions, position: { row } },
              cause: error,
            });
          }
          throw error;
        },
      ),
    ),
  );
  return { rgb, ms: performance.now() - started };
}
