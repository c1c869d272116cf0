/**
 * The request body forms the service reads: JSON (UTF-8, parsed with secure-json-parse so that
 * `__proto__` and `constructor.prototype` keys are refused), raw image/* bytes, and
 * multipart/form-data (@fastify/multipart, registered by the app). Anything else is 415.
 * Errors say what is wrong with the body, so a client can fix it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { ServiceError } from '../errors.js';

/** The longest piece of a parser message echoed back to the client. */
const MAX_DETAIL = 200;

function charsetOf(contentType: string | undefined): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return match?.[1]?.toLowerCase();
}

function parseJsonBody(request: FastifyRequest, body: string): unknown {
  const charset = charsetOf(request.headers['content-type']);
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ServiceError('unsupported_media_type', `JSON bodies must be UTF-8 (RFC 8259); got charset=${charset.slice(0, 40)}`);
  }
  if (body.trim() === '') throw new ServiceError('bad_request', 'the JSON body is empty');
  try {
    // secure-json-parse scans the whole text with two escape-aware patterns; a JSON key can
    // spell __proto__ or constructor only literally or with \u escapes, so a body with none of
    // those (a base64 image, most of all) needs no scan.
    const suspect = body.includes('__proto__') || body.includes('constructor') || body.includes('\\u');
    return suspect ? sjson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' }) : JSON.parse(body);
  } catch (error) {
    const message = (error as Error).message;
    const detail = /prototype/i.test(message)
      ? 'the JSON body holds a __proto__ or constructor.prototype key, which is refused'
      : `malformed JSON body: ${message.length > MAX_DETAIL ? `${message.slice(0, MAX_DETAIL)}...` : message}`;
    throw new ServiceError('invalid_json', detail);
  }
}

export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    try {
      done(null, parseJsonBody(request, body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  // Raw image bodies: POST /v1/tokenize with Content-Type image/png and the bytes as body.
  app.addContentTypeParser(/^image\/[\w.+-]+$/, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}
