/**
 * The one error type of the service. Every failure a client can see is a ServiceError whose
 * `code` comes from ERROR_TABLE; the HTTP layer turns it into application/problem+json
 * (RFC 9457) and the OpenAPI error responses are generated from the same table.
 */

export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
}

export const ERROR_TABLE = {
  // 400: the request is malformed
  bad_request: { status: 400, title: 'Bad request' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  invalid_base64: { status: 400, title: 'Invalid base64' },
  invalid_data_uri: { status: 400, title: 'Invalid data: URI' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  // 401/403/404
  unauthorized: { status: 401, title: 'Missing or invalid API key' },
  not_found: { status: 404, title: 'Not found' },
  unknown_model: { status: 404, title: 'Unknown model' },
  // 406/413/414/415
  not_acceptable: { status: 406, title: 'Not acceptable' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  too_many_inputs: { status: 413, title: 'Too many inputs in one request' },
  image_too_large: { status: 413, title: 'Image exceeds the pixel limit' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  unsupported_image_format: { status: 415, title: 'Unsupported image format' },
  // 422: well-formed but semantically invalid
  invalid_image: { status: 422, title: 'Image could not be decoded' },
  invalid_tokens: { status: 422, title: 'Invalid token ids' },
  invalid_text: { status: 422, title: 'Invalid text' },
  capability_unavailable: { status: 422, title: 'Model lacks this capability' },
  url_not_allowed: { status: 422, title: 'Image URL not allowed' },
  url_fetch_failed: { status: 422, title: 'Image URL could not be fetched' },
  // 429/5xx
  queue_full: { status: 429, title: 'Too many requests queued' },
  rate_limited: { status: 429, title: 'Rate limit exceeded' },
  internal: { status: 500, title: 'Internal server error' },
  inference_failed: { status: 500, title: 'Inference failed' },
  worker_crashed: { status: 503, title: 'Inference worker crashed' },
  not_ready: { status: 503, title: 'Service not ready' },
  overloaded: { status: 503, title: 'Server overloaded' },
  shutting_down: { status: 503, title: 'Service is shutting down' },
  deadline_exceeded: { status: 504, title: 'Request deadline exceeded' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  /** Extra members of the problem document (e.g. `position` for a bad token id). */
  readonly extensions: Readonly<Record<string, unknown>>;
  /** Seconds, sent as Retry-After on 429/503. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    detail: string,
    options: { extensions?: Record<string, unknown>; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServiceError';
    this.code = code;
    this.status = ERROR_TABLE[code].status;
    this.title = ERROR_TABLE[code].title;
    this.extensions = options.extensions ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isServiceError(value: unknown): value is ServiceError {
  return value instanceof ServiceError;
}
