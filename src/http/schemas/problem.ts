/**
 * application/problem+json (RFC 9457) schema, and the OpenAPI error responses of a route,
 * generated from ERROR_TABLE so that the document and the behaviour cannot drift.
 */
import Type, { type Static } from 'typebox';
import { ERROR_TABLE, type ErrorCode } from '../../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URN naming the error code', examples: ['urn:toklip:error:queue_full'] }),
    title: Type.String({ description: 'Short summary of the error code' }),
    status: Type.Integer({ description: 'HTTP status code' }),
    detail: Type.String({ description: 'What went wrong with this request' }),
    code: Type.Enum(Object.keys(ERROR_TABLE) as ErrorCode[], { description: 'Machine-readable error code' }),
    instance: Type.Optional(Type.String({ description: 'The request id (x-request-id)' })),
    position: Type.Optional(
      Type.Object(
        { row: Type.Optional(Type.Integer()), index: Type.Optional(Type.Integer()) },
        { description: 'Where a bad token id or text is: row (input) and index (token) in the request' },
      ),
    ),
  },
  { $id: 'Problem', additionalProperties: true, description: 'RFC 9457 problem details' },
);

export type Problem = Static<typeof ProblemSchema>;

/** Codes any route can answer (validation, limits, overload, failures). */
export const COMMON_ERROR_CODES: readonly ErrorCode[] = [
  'bad_request',
  'validation_failed',
  'internal',
  'not_ready',
  'overloaded',
  'shutting_down',
];

/** OpenAPI `response` entries for the given codes, grouped by status. */
/** What /v1/encode and /v1/similarity can answer: image, token or text input, then inference. */
export const EMBEDDING_PROBLEMS: readonly ErrorCode[] = [
  'invalid_json', 'invalid_base64', 'invalid_data_uri', 'invalid_tokens', 'invalid_text', 'unknown_model',
  'payload_too_large', 'too_many_inputs', 'image_too_large', 'unsupported_media_type', 'unsupported_image_format',
  'invalid_image', 'capability_unavailable', 'queue_full', 'inference_failed', 'worker_crashed', 'deadline_exceeded',
];

export function problemResponses(codes: readonly ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...COMMON_ERROR_CODES, ...codes])) {
    const { status } = ERROR_TABLE[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, unknown> = {};
  for (const [status, list] of [...byStatus.entries()].sort((a, b) => a[0] - b[0])) {
    const description = list.map((c) => `${c}: ${ERROR_TABLE[c].title}`).join('; ');
    // One example body per code, from the same table the error handler uses.
    const examples = Object.fromEntries(
      list.map((c) => [
        c,
        {
          summary: ERROR_TABLE[c].title,
          value: { type: `urn:toklip:error:${c}`, title: ERROR_TABLE[c].title, status, detail: ERROR_TABLE[c].title, code: c },
        },
      ]),
    );
    responses[status] = { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: Type.Ref('Problem'), examples } } };
  }
  return responses;
}
