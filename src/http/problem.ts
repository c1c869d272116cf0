/**
 * The one error handler: ServiceError and Fastify's own errors (FST_ERR_*, multipart limits)
 * become application/problem+json. Everything is logged; 5xx bodies never show internals.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_TABLE, type ErrorCode, ServiceError, isServiceError } from '../errors.js';
import { limitText } from './limits-text.js';
import { DISCARD_LIMIT_FACTOR, discardRestOfBody } from './oversized-body.js';
import { PROBLEM_CONTENT_TYPE, type Problem } from './schemas/problem.js';
import { type IssueLocation, type ValidationIssue, describeIssue, memberPath } from './validation-detail.js';

/** Paths whose validation failures are token or text problems (422 naming the position). */
function validationToServiceError(error: FastifyError): ServiceError {
  const context = ((error as { validationContext?: string }).validationContext ?? 'body') as IssueLocation;
  const issue = (error.validation as ValidationIssue[] | undefined)?.[0];
  const path = issue?.instancePath ?? '';
  const detail = describeIssue(issue, context);
  if (context === 'body') {
    if (issue?.keyword === 'maxItems' && /^\/(images|tokens|tokens_base64|texts)$/.test(path)) {
      return new ServiceError('too_many_inputs', `${memberPath(path)} has more than ${String(issue.params?.limit)} entries; the limit is ${String(issue.params?.limit)} per request`);
    }
    const tokens = /^\/(tokens|tokens_base64)(?:\/(\d+))?(?:\/(\d+))?$/.exec(path);
    if (tokens && tokens[2] !== undefined) {
      const position: Record<string, number> = { row: Number(tokens[2]) };
      if (tokens[3] !== undefined) position.index = Number(tokens[3]);
      return new ServiceError('invalid_tokens', detail, { extensions: { position } });
    }
    const texts = /^\/texts\/(\d+)$/.exec(path);
    if (texts) return new ServiceError('invalid_text', detail, { extensions: { position: { row: Number(texts[1]) } } });
  }
  return new ServiceError('validation_failed', detail);
}

/** Maps Fastify and plugin errors to the service's codes. */
export function toServiceError(error: unknown, bodyLimitBytes: number, maxInputs: number): ServiceError {
  if (isServiceError(error)) return error;
  const e = error as FastifyError;
  if (e.validation) return validationToServiceError(e);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new ServiceError('payload_too_large', `request body exceeds the limit of ${limitText(bodyLimitBytes)}`);
    case 'FST_FILES_LIMIT':
      return new ServiceError('too_many_inputs', `a request may hold at most ${maxInputs} images`);
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new ServiceError('too_many_inputs', `too many multipart parts (${e.message})`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ServiceError(
        'unsupported_media_type',
        `unsupported Content-Type; send application/json, multipart/form-data or an image/* body (routes say which)`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ServiceError('bad_request', 'the JSON body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ServiceError('invalid_json', `malformed JSON body: ${e.message}`);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new ServiceError('unsupported_media_type', 'the request is not multipart/form-data');
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new ServiceError('bad_request', 'a multipart field declared as application/json is not valid JSON');
    case 'FST_PROTO_VIOLATION':
      return new ServiceError('bad_request', 'a multipart field name is a prototype property (__proto__, constructor...)');
    case 'FST_MP_PREMATURE_CLOSE':
      return new ServiceError('bad_request', 'the request ended before the multipart data was complete');
    default:
      break;
  }
  if (e instanceof SyntaxError && e.statusCode === 400) return new ServiceError('invalid_json', `malformed JSON body: ${e.message}`);
  const status = e.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (Object.keys(ERROR_TABLE) as ErrorCode[]).find((c) => ERROR_TABLE[c].status === status) ?? 'bad_request';
    return new ServiceError(code, e.message, { cause: e });
  }
  return new ServiceError('internal', 'internal error', { cause: e });
}

export function problemBody(error: ServiceError, requestId: string): Problem {
  // Internal failures may carry library messages or paths: log them, never send them.
  const hidden = error.code === 'internal' || error.code === 'inference_failed';
  const detail = hidden ? `${error.title.toLowerCase()}; quote request id ${requestId}` : error.message;
  return {
    type: `urn:toklip:error:${error.code}`,
    title: error.title,
    status: error.status,
    detail,
    code: error.code,
    instance: requestId,
    ...error.extensions,
  };
}

export function sendProblem(reply: FastifyReply, error: ServiceError, requestId: string): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(problemBody(error, requestId));
}

export function registerErrorHandling(app: FastifyInstance, limits: { bodyLimitBytes: number; maxInputs: number }): void {
  app.setErrorHandler(async (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const serviceError = toServiceError(error, limits.bodyLimitBytes, limits.maxInputs);
    if (serviceError.status >= 500) {
      request.log.error({ err: error, code: serviceError.code }, 'request failed');
    } else {
      request.log.info({ code: serviceError.code, detail: serviceError.message }, 'request rejected');
    }
    // Refused before the whole body arrived: let the client finish sending so that it reads the
    // answer rather than a reset. A refused request costs at most what an accepted one of the
    // largest size does, an oversized one a few times that.
    if (!request.raw.complete && !request.raw.readableEnded) {
      const bound = (serviceError.code === 'payload_too_large' ? DISCARD_LIMIT_FACTOR : 1) * limits.bodyLimitBytes;
      if (!(await discardRestOfBody(request.raw, bound))) reply.header('connection', 'close');
    }
    return sendProblem(reply, serviceError, request.id);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new ServiceError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`), request.id),
  );
}
