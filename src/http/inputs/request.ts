/**
 * Reads a request in whichever form it came (JSON, multipart/form-data, raw image/* body) into
 * one shape: the JSON body or the multipart text fields, the image bytes, and the route's
 * options merged from the query string with the body members or multipart fields.
 */
import type { FastifyRequest } from 'fastify';
import type { Static, TObject } from 'typebox';
import { ServiceError } from '../../errors.js';
import type { RemoteImageFetcher } from '../remote-images/fetch-image.js';
import type { RequestBody } from '../schemas/inference.js';
import { parseFields } from '../validation.js';
import { readImageStrings, readMultipart } from './images.js';
import { mergeOptions, optionNames, pickOptions } from './options.js';

export type InputForm = 'json' | 'multipart' | 'raw';

export interface ParsedInput<J, F> {
  readonly form: InputForm;
  /** The JSON body (form json). */
  readonly json: J | undefined;
  /** The validated multipart text fields (form multipart). */
  readonly fields: F | undefined;
  /** Image bytes from `images` strings, file parts or the raw body; undefined when none were sent. */
  readonly images: Buffer[] | undefined;
}

export interface InputSpec<O extends TObject, F extends TObject> {
  /** The route's options: query parameters, JSON members and multipart fields alike. */
  readonly options: O;
  /** Multipart: its text fields other than the options (for similarity, the texts); undefined: no multipart. */
  readonly fields?: F;
  readonly raw: boolean;
  readonly bodyLimitBytes: number;
  readonly maxInputs: number;
  /** Fetches image URLs (TOKLIP_ALLOW_URLS); undefined: URLs are refused. */
  readonly remote?: RemoteImageFetcher | undefined;
}

/** The body forms a route accepts, for error details. */
function acceptedForms(spec: InputSpec<TObject, TObject>): string {
  const forms = ['application/json', ...(spec.fields ? ['multipart/form-data'] : []), ...(spec.raw ? ['an image/* body'] : [])];
  return forms.length === 1 ? forms[0]! : `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}`;
}

function unsupported(what: string, spec: InputSpec<TObject, TObject>): ServiceError {
  return new ServiceError('unsupported_media_type', `this route does not accept ${what}; send ${acceptedForms(spec)}`);
}

export async function parseInput<J extends Partial<Static<O>> & { images?: string[] | undefined }, O extends TObject, F extends TObject = O>(
  request: FastifyRequest,
  body: RequestBody<J>,
  query: Partial<Static<O>>,
  spec: InputSpec<O, F>,
): Promise<{ input: ParsedInput<J, Static<F>>; options: Partial<Static<O>> }> {
  if (request.isMultipart()) {
    if (spec.fields === undefined) throw unsupported('multipart/form-data', spec);
    const { files, fields } = await readMultipart(request, spec.bodyLimitBytes);
    const names: string[] = optionNames(spec.options);
    const optionFields = Object.fromEntries(Object.entries(fields).filter(([name]) => names.includes(name)));
    const otherFields = Object.fromEntries(Object.entries(fields).filter(([name]) => !names.includes(name)));
    const options = mergeOptions(query, parseFields(spec.options, optionFields));
    const parsed = parseFields(spec.fields, otherFields);
    if (files.length > spec.maxInputs) throw new ServiceError('too_many_inputs', `a request may hold at most ${spec.maxInputs} images`);
    return { input: { form: 'multipart', json: undefined, fields: parsed, images: files.length > 0 ? files : undefined }, options };
  }
  if (Buffer.isBuffer(body)) {
    if (!spec.raw) throw unsupported(`a raw ${request.headers['content-type']} body`, spec);
    if (body.length === 0) throw new ServiceError('bad_request', 'the image body is empty');
    return { input: { form: 'raw', json: undefined, fields: undefined, images: [body] }, options: query };
  }
  if (body === undefined) throw new ServiceError('bad_request', `the request has no body; send ${acceptedForms(spec)}`);
  if (body === null || typeof body !== 'object') throw unsupported('this body', spec);
  const images = body.images !== undefined ? await readImageStrings(body.images, spec.remote, spec.bodyLimitBytes) : undefined;
  // The strings are consumed: drop them now rather than when the reply is sent, so that the
  // garbage collector does not copy every waiting request's base64 text from scavenge to
  // scavenge (and promote it) while its images wait for the workers.
  if (body.images !== undefined) body.images.fill('');
  const options = mergeOptions(query, pickOptions(body, spec.options));
  return { input: { form: 'json', json: body, fields: undefined, images }, options };
}

/** The one input kind a request gave, among `sources` (400 when none or several). */
export function requireOne<K extends string>(sources: Record<K, boolean>, what: string): K {
  const names = Object.keys(sources) as K[];
  const given = names.filter((name) => sources[name]);
  if (given.length !== 1) {
    const missing = names.length === 1 ? `the request holds no ${what}` : `give ${what}: one of ${names.join(', ')}`;
    throw new ServiceError('bad_request', given.length === 0 ? missing : `give only one of ${names.join(', ')} (got ${given.join(' and ')})`);
  }
  return given[0]!;
}
