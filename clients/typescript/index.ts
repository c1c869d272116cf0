/**
 * Typed TypeScript client for toklip-serve: openapi-fetch over the types that `npm run client`
 * generates from openapi/openapi.json (schema.d.ts). Paths, query options, bodies and responses
 * are all typed; a failed call returns `error`, an RFC 9457 problem.
 *
 *   const toklip = createToklipClient({ baseUrl: 'http://localhost:8080' });
 *   const { data, error } = await toklip.POST('/v1/encode', { body: { texts: ['a cat'] } });
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, paths } from './schema.js';

export type { components, operations, paths } from './schema.js';
export type Problem = components['schemas']['Problem'];
export type Model = components['schemas']['Model'];
/**
 * Media types the typed results are read as: JSON bodies, problem+json errors and the text of
 * /metrics. Binary answers (decode with `Accept: image/png`) are read with `parseAs`.
 */
export type ResponseMedia = 'application/json' | 'application/problem+json' | 'text/plain';
export type ToklipClient = Client<paths, ResponseMedia>;

export interface ToklipClientOptions extends ClientOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`, for deployments that require API keys. */
  apiKey?: string;
}

export function createToklipClient({ apiKey, ...options }: ToklipClientOptions): ToklipClient {
  const client = createClient<paths, ResponseMedia>(options);
  if (apiKey !== undefined) {
    client.use({
      onRequest: ({ request }) => {
        request.headers.set('authorization', `Bearer ${apiKey}`);
        return request;
      },
    });
  }
  return client;
}

// openapi-fetch types `body` from the schema (JSON objects; binary parts as strings). The two
// helpers below build the other body forms the API accepts and hand them over as they are.

/**
 * A multipart/form-data body (images as file parts, options as fields), for POST /v1/tokenize,
 * /v1/encode and /v1/similarity:
 *   toklip.POST('/v1/tokenize', multipart({ images: [pngBlob], model: 'toklip-s-256' }))
 */
export function multipart(fields: Record<string, string | Blob | readonly Blob[] | undefined>): { body: never } {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (typeof value === 'string' || value instanceof Blob) form.append(name, value);
    else for (const part of value) form.append(name, part);
  }
  return { body: form as never }; // sent as is: fetch sets the multipart boundary
}

/**
 * A raw image body (Content-Type image/*), for POST /v1/tokenize and /v1/encode; options go in
 * the query: toklip.POST('/v1/tokenize', { ...rawImage(bytes, 'image/png'), params: { query: { model } } })
 */
export function rawImage(
  bytes: Uint8Array | Blob,
  mime: `image/${string}`,
): { body: never; bodySerializer: (body: unknown) => unknown; headers: { 'content-type': string } } {
  return { body: bytes as never, bodySerializer: (body) => body, headers: { 'content-type': mime } };
}
