/**
 * Reads a request in whichever form it came (JSON, multipart/form-data, raw image/* body)
 * into one shape: the JSON members, the image bytes, and the options merged from the query
 * string with the body members or multipart fields.
 */
import type { FastifyRequest } from 'fastify';
import type { TSchema } from 'typebox';
import { ServiceError } from '../../errors.js';
import type { RemoteImageFetcher } from '../remote-images/fetch-image.js';
import { readImageStrings, readMultipart } from './images.js';
import { mergeOptions, parseFields } from './options.js';

export type InputForm = 'json' | 'multipart' | 'raw';

export interface ParsedInput<B> {
  readonly form: InputForm;
  /** The JSON body, or the validated multipart fields, or {} for a raw image. */
  readonly body: Partial<B>;
  /** Image bytes from `images` strings, file parts or the raw body; undefined when none were sent. */
  readonly images: Buffer[] | undefined;
}

export interface InputSpec {
  readonly optionKeys: readonly string[];
  /** Schema of multipart text fields (options and, for similarity, texts); undefined: no multipart. */
  readonly fieldsSchema?: TSchema;
  readonly raw: boolean;
  readonly bodyLimitBytes: number;
  readonly maxInputs: number;
  /** Fetches image URLs (TOKLIP_ALLOW_URLS); undefined: URLs are refused. */
  readonly remote?: RemoteImageFetcher | undefined;
}

function pick(source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]));
}

/** The body forms a route accepts, for error details. */
function acceptedForms(spec: InputSpec): string {
  const forms = ['application/json', ...(spec.fieldsSchema ? ['multipart/form-data'] : []), ...(spec.raw ? ['an image/* body'] : [])];
  return forms.length === 1 ? forms[0]! : `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}`;
}

function unsupported(what: string, spec: InputSpec): ServiceError {
  return new ServiceError('unsupported_media_type', `this route does not accept ${what}; send ${acceptedForms(spec)}`);
}

export async function parseInput<B extends object, O extends object>(
  request: FastifyRequest,
  spec: InputSpec,
): Promise<{ input: ParsedInput<B>; options: Partial<O> }> {
  const query = (request.query ?? {}) as Partial<O>;
  if (request.isMultipart()) {
    if (spec.fieldsSchema === undefined) throw unsupported('multipart/form-data', spec);
    const { files, fields } = await readMultipart(request, spec.bodyLimitBytes);
    const body = parseFields<Record<string, unknown>>(spec.fieldsSchema, fields);
    if (files.length > spec.maxInputs) throw new ServiceError('too_many_inputs', `a request may hold at most ${spec.maxInputs} images`);
    const options = mergeOptions<O>(query, pick(body, spec.optionKeys) as Partial<O>);
    return { input: { form: 'multipart', body: body as Partial<B>, images: files.length > 0 ? files : undefined }, options };
  }
  if (Buffer.isBuffer(request.body)) {
    if (!spec.raw) throw unsupported(`a raw ${request.headers['content-type']} body`, spec);
    if (request.body.length === 0) throw new ServiceError('bad_request', 'the image body is empty');
    return { input: { form: 'raw', body: {}, images: [request.body] }, options: query };
  }
  const body = request.body;
  if (body === undefined) throw new ServiceError('bad_request', `the request has no body; send ${acceptedForms(spec)}`);
  if (body === null || typeof body !== 'object') throw unsupported('this body', spec);
  const json = body as Record<string, unknown>;
  const images = Array.isArray(json.images) ? await readImageStrings(json.images as string[], spec.remote, spec.bodyLimitBytes) : undefined;
  // The strings are consumed: drop them now rather than when the reply is sent, so that the
  // garbage collector does not copy every waiting request's base64 text from scavenge to
  // scavenge (and promote it) while its images wait for the workers.
  if (images !== undefined) (json.images as string[]).fill('');
  const options = mergeOptions<O>(query, pick(json, spec.optionKeys) as Partial<O>);
  return { input: { form: 'json', body: json as Partial<B>, images }, options };
}
