/**
 * The hostile-input corpus: every case is one HTTP request with the exact answer the service
 * must give (status, problem code, a pattern of the detail). Deterministic: the same bytes on
 * every run (test/corpus/generate.ts writes them out; corpus.test.ts sends them).
 *
 * Expectations depend on the server's limits and the model's shapes, passed in as CorpusTarget.
 */
import { type ImageForm, type ImageItem, imageItems, randomBytes } from './images.js';
import type { CorpusCase, Expect, InferenceRoute } from './types.js';

export type { CorpusCase, Expect, InferenceRoute } from './types.js';

export interface CorpusTarget {
  readonly model: string;
  readonly numTokens: number;
  readonly codebookSize: number;
  readonly maxInputs: number;
  readonly bodyLimitBytes: number;
  /** Longest accepted text (MAX_TEXT_CHARS). */
  readonly maxTextChars: number;
}

const BOUNDARY = 'toklip-corpus-boundary-7c1d';
const OK: Expect = { status: 200 };
const JSON_TYPE = { 'content-type': 'application/json' };

interface Part {
  readonly name: string;
  readonly data: Buffer | string;
  readonly filename?: string;
  readonly contentType?: string;
}

export function multipartBody(parts: readonly Part[], boundary = BOUNDARY): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    const type = part.contentType !== undefined ? `\r\nContent-Type: ${part.contentType}` : '';
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

const MULTIPART_TYPE = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

function post(name: string, path: string, body: Buffer | string | undefined, headers: Record<string, string>, expect: Expect): CorpusCase {
  return { name, method: 'POST', path, headers, body: body === undefined ? undefined : Buffer.from(body), expect };
}

function postJson(name: string, path: string, value: unknown, expect: Expect, headers: Record<string, string> = {}): CorpusCase {
  return post(name, path, JSON.stringify(value), { ...JSON_TYPE, ...headers }, expect);
}

const TEXT = 'a photo of a cat';

/** Images sent in every form to every route that takes images. */
function imageCases(items: readonly ImageItem[]): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const routes: { route: InferenceRoute; forms: ImageForm[]; texts: boolean }[] = [
    { route: '/v1/tokenize', forms: ['json', 'multipart', 'raw'], texts: false },
    { route: '/v1/encode', forms: ['json', 'multipart', 'raw'], texts: false },
    { route: '/v1/similarity', forms: ['json', 'multipart'], texts: true },
  ];
  for (const item of items) {
    for (const { route, forms, texts } of routes) {
      for (const form of forms) {
        const expect = item.byForm?.[form] ?? item.expect;
        const name = `image ${item.name} -> ${route} (${form})`;
        if (form === 'json') {
          cases.push(postJson(name, route, { images: [item.bytes.toString('base64')], ...(texts ? { texts: [TEXT] } : {}) }, expect));
        } else if (form === 'multipart') {
          const parts: Part[] = [{ name: 'image', data: item.bytes, filename: 'upload.bin', contentType: item.declaredType }];
          if (texts) parts.push({ name: 'texts', data: TEXT });
          cases.push(post(name, route, multipartBody(parts), MULTIPART_TYPE, expect));
        } else {
          cases.push(post(name, route, item.bytes, { 'content-type': item.declaredType }, expect));
        }
      }
    }
  }
  return cases;
}

/** A valid JSON body for each route (the base of many cases). */
function validBodies(t: CorpusTarget, image: string): Record<InferenceRoute, Record<string, unknown>> {
  const ids = Array.from({ length: t.numTokens }, (_, i) => (i * 7) % t.codebookSize);
  return {
    '/v1/tokenize': { images: [image] },
    '/v1/encode': { tokens: [ids] },
    '/v1/decode': { tokens: [ids] },
    '/v1/similarity': { tokens: [ids], texts: [TEXT] },
  };
}

const ROUTES: InferenceRoute[] = ['/v1/tokenize', '/v1/encode', '/v1/decode', '/v1/similarity'];

/** Bodies, content types, headers and query strings, on every inference route. */
function requestCases(t: CorpusTarget, image: string): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const bodies = validBodies(t, image);
  const limit = `${t.bodyLimitBytes} bytes \\(${(t.bodyLimitBytes / 2 ** 20).toFixed(t.bodyLimitBytes % 2 ** 20 === 0 ? 0 : 2)} MiB\\)`;
  for (const route of ROUTES) {
    const valid = bodies[route];
    const takesMultipart = route !== '/v1/decode';
    const add = (name: string, body: Buffer | string | undefined, headers: Record<string, string>, expect: Expect, path: string = route) =>
      cases.push(post(`${name} -> ${route}`, path, body, headers, expect));

    add('valid control', JSON.stringify(valid), JSON_TYPE, OK);
    add('no body, no content type', undefined, {}, { status: 400, code: 'bad_request', detail: /the request has no body; send application\/json/ });
    add('empty JSON body', '', JSON_TYPE, { status: 400, code: 'bad_request', detail: /the JSON body is empty/ });
    add('white space JSON body', ' \r\n\t ', JSON_TYPE, { status: 400, code: 'bad_request', detail: /the JSON body is empty/ });
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/problem+json']) {
      add(`content type ${type}`, JSON.stringify(valid), { 'content-type': type }, { status: 415, code: 'unsupported_media_type', detail: /Content-Type/ });
    }
    add('JSON declared as UTF-16', JSON.stringify(valid), { 'content-type': 'application/json; charset=utf-16' }, {
      status: 415,
      code: 'unsupported_media_type',
      detail: /JSON bodies must be UTF-8/,
    });
    add('JSON in UTF-16 bytes', Buffer.from(JSON.stringify(valid), 'utf16le'), JSON_TYPE, { status: 400, code: 'invalid_json', detail: /malformed JSON body/ });
    add('malformed JSON (cut short)', JSON.stringify(valid).slice(0, 12), JSON_TYPE, { status: 400, code: 'invalid_json', detail: /malformed JSON body/ });
    add('malformed JSON (trailing garbage)', `${JSON.stringify(valid)} }`, JSON_TYPE, { status: 400, code: 'invalid_json', detail: /malformed JSON body/ });
    add('malformed JSON (single quotes)', "{'tokens': []}", JSON_TYPE, { status: 400, code: 'invalid_json', detail: /malformed JSON body/ });
    add('JSON with NaN', '{"tokens": [[NaN]]}', JSON_TYPE, { status: 400, code: 'invalid_json' });
    add('prototype poisoning (__proto__)', `{"__proto__": {"admin": true}, ${JSON.stringify(valid).slice(1)}`, JSON_TYPE, {
      status: 400,
      code: 'invalid_json',
      detail: /__proto__ or constructor.prototype key, which is refused/,
    });
    add('prototype poisoning (__proto__ spelt with \\u escapes)', `{"\\u005f_proto\\u005F_": {"admin": true}, ${JSON.stringify(valid).slice(1)}`, JSON_TYPE, {
      status: 400,
      code: 'invalid_json',
      detail: /__proto__ or constructor.prototype key, which is refused/,
    });
    add('prototype poisoning (constructor.prototype)', `{"constructor": {"prototype": {"admin": true}}, ${JSON.stringify(valid).slice(1)}`, JSON_TYPE, {
      status: 400,
      code: 'invalid_json',
      detail: /__proto__ or constructor.prototype key/,
    });
    for (const [label, body] of [['null', 'null'], ['array', '[]'], ['string', '"tokens"'], ['number', '42'], ['boolean', 'true']] as const) {
      add(`JSON ${label} instead of an object`, body, JSON_TYPE, { status: 400, code: 'validation_failed', detail: /the JSON body must be an object/ });
    }
    add('deeply nested arrays', `${'['.repeat(50_000)}${']'.repeat(50_000)}`, JSON_TYPE, { status: 400, code: 'validation_failed', detail: /must be an object/ });
    add('unknown member', JSON.stringify({ ...valid, colour: 'red' }), JSON_TYPE, {
      status: 400,
      code: 'validation_failed',
      detail: /has an unknown member 'colour' \(unknown members are refused\)/,
    });
    add('unknown model', JSON.stringify({ ...valid, model: 'no-such-model' }), JSON_TYPE, {
      status: 404,
      code: 'unknown_model',
      detail: new RegExp(`no model 'no-such-model'; loaded: ${t.model}`),
    });
    add('model name with path characters', JSON.stringify({ ...valid, model: '../../etc/passwd' }), JSON_TYPE, {
      status: 400,
      code: 'validation_failed',
      detail: /model must match pattern/,
    });
    add('model name not a string', JSON.stringify({ ...valid, model: ['a'] }), JSON_TYPE, { status: 400, code: 'validation_failed', detail: /model must be string/ });
    add('unknown query parameter', JSON.stringify(valid), JSON_TYPE, { status: 400, code: 'validation_failed', detail: /query string has an unknown member 'debug'/ }, `${route}?debug=1`);
    add('unknown model in the query', JSON.stringify(valid), JSON_TYPE, { status: 404, code: 'unknown_model' }, `${route}?model=nope`);
    add('query and body disagree', JSON.stringify({ ...valid, model: t.model }), JSON_TYPE, {
      status: 400,
      code: 'bad_request',
      detail: /option 'model' differs between the query string and the body/,
    }, `${route}?model=other-model`);
    for (const value of ['soon', '-5', '0', '1.5', '1e3', '99999999999999999999999']) {
      add(`x-request-timeout-ms: ${value}`, JSON.stringify(valid), { ...JSON_TYPE, 'x-request-timeout-ms': value }, {
        status: value === '99999999999999999999999' ? 200 : 400,
        ...(value === '99999999999999999999999' ? {} : { code: 'bad_request' as const, detail: /x-request-timeout-ms must be a positive integer/ }),
      });
    }
    add('body over the limit', JSON.stringify({ ...valid, pad: 'x'.repeat(t.bodyLimitBytes) }), JSON_TYPE, {
      status: 413,
      code: 'payload_too_large',
      detail: new RegExp(`request body exceeds the limit of ${limit}`),
    });
    add('raw image body', Buffer.from(image, 'base64'), { 'content-type': 'image/png' }, route === '/v1/tokenize' || route === '/v1/encode'
      ? OK
      : { status: 415, code: 'unsupported_media_type', detail: /does not accept a raw image\/png body/ });
    const multipartNotAccepted: Expect = { status: 415, code: 'unsupported_media_type', detail: /does not accept multipart\/form-data/ };
    add('multipart without boundary', 'x', { 'content-type': 'multipart/form-data' }, takesMultipart
      ? { status: 400, code: 'bad_request', detail: /malformed multipart\/form-data body: .*[Bb]oundary/ }
      : multipartNotAccepted);
    add('multipart garbage', randomBytes(300, 11), MULTIPART_TYPE, takesMultipart
      ? { status: 400, code: 'bad_request', detail: /malformed multipart\/form-data body/ }
      : multipartNotAccepted);
    const texts = route === '/v1/similarity' ? [{ name: 'texts', data: TEXT }] : [];
    add('multipart unknown field', multipartBody([...texts, { name: 'colour', data: 'red' }]), MULTIPART_TYPE, takesMultipart
      ? { status: 400, code: 'validation_failed', detail: /the multipart form has an unknown member 'colour'/ }
      : multipartNotAccepted);
    add('multipart field given twice', multipartBody([{ name: 'model', data: t.model }, { name: 'model', data: t.model }]), MULTIPART_TYPE, takesMultipart
      ? { status: 400, code: 'validation_failed', detail: /multipart field model is given 2 times/ }
      : multipartNotAccepted);
    add('multipart field over 64 KiB', multipartBody([{ name: 'model', data: 'm'.repeat(70_000) }]), MULTIPART_TYPE, takesMultipart
      ? { status: 413, code: 'payload_too_large', detail: /multipart field 'model' is longer than 65536 bytes/ }
      : multipartNotAccepted);
    add('multipart __proto__ field', multipartBody([{ name: '__proto__', data: 'x' }]), MULTIPART_TYPE, takesMultipart
      ? { status: 400, code: 'bad_request', detail: /prototype property/ }
      : multipartNotAccepted);
    if (takesMultipart) {
      const files = Array.from({ length: t.maxInputs + 1 }, () => ({ name: 'image', data: Buffer.from(image, 'base64'), filename: 'a.png', contentType: 'image/png' }));
      add('multipart with too many files', multipartBody(files), MULTIPART_TYPE, { status: 413, code: 'too_many_inputs', detail: new RegExp(`at most ${t.maxInputs}`) });
    }
  }
  cases.push(post('unknown route', '/v1/nope', '{}', JSON_TYPE, { status: 404, code: 'not_found', detail: /no route POST \/v1\/nope/ }));
  cases.push({ name: 'GET on a POST route', method: 'GET', path: '/v1/encode', headers: {}, body: undefined, expect: { status: 404, code: 'not_found' } });
  cases.push({ name: 'path traversal', method: 'GET', path: '/v1/../../etc/passwd', headers: {}, body: undefined, expect: { status: 404, code: 'not_found' } });
  return cases;
}

/** Image strings of JSON bodies: base64 and data: URIs. */
function imageStringCases(t: CorpusTarget, image: string): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString('base64');
  const jpegAsPng = image; // PNG bytes under an image/jpeg label below
  const strings: [string, unknown, Expect][] = [
    ['not base64', ['!!! not base64 !!!'], { status: 400, code: 'invalid_base64', detail: /images\[0\] is not valid base64/ }],
    ['base64 of impossible length', ['AAAAA'], { status: 400, code: 'invalid_base64' }],
    ['base64 with a NUL', [`${image.slice(0, 8)}\u0000${image.slice(8)}`], { status: 400, code: 'invalid_base64' }],
    ['base64 url-safe alphabet', [Buffer.from(image, 'base64').toString('base64url')], OK],
    ['base64 with line breaks', [image.replace(/(.{76})/g, '$1\n')], OK],
    ['data: URI', [`data:image/png;base64,${image}`], OK],
    ['data: URI mime says jpeg, bytes are png', [`data:image/jpeg;base64,${jpegAsPng}`], OK],
    ['data: URI with text/html', [`data:text/html;base64,${image}`], { status: 400, code: 'invalid_data_uri', detail: /media type 'text\/html' is not image\/\*/ }],
    ['data: URI without mime', [`data:;base64,${image}`], { status: 400, code: 'invalid_data_uri', detail: /'text\/plain' is not image/ }],
    ['data: URI not base64', ['data:image/png,%89PNG'], { status: 400, code: 'invalid_data_uri', detail: /only base64 data: URIs/ }],
    ['data: URI without comma', ['data:image/png;base64'], { status: 400, code: 'invalid_data_uri', detail: /malformed data: URI/ }],
    ['data: URI with SVG', [`data:image/svg+xml;base64,${svg}`], { status: 415, code: 'unsupported_image_format', detail: /SVG is refused/ }],
    ['data: URI with invalid base64', ['data:image/png;base64,@@@@'], { status: 400, code: 'invalid_base64' }],
    ['https URL (URLs off)', ['https://169.254.169.254/latest/meta-data/'], { status: 422, code: 'url_not_allowed', detail: /images\[0\] is a URL; this server does not fetch remote images/ }],
    ['file: URL', ['file:///etc/passwd'], { status: 422, code: 'url_not_allowed', detail: /images\[0\] is a URL/ }],
    ['gopher: URL', ['gopher://127.0.0.1:6379/_FLUSHALL'], { status: 422, code: 'url_not_allowed' }],
    ['images not an array', image, { status: 400, code: 'validation_failed', detail: /images must be array/ }],
    ['image not a string', [123], { status: 400, code: 'validation_failed', detail: /images\[0\] must be string/ }],
    ['image null', [null], { status: 400, code: 'validation_failed', detail: /images\[0\] must be string/ }],
    ['no images', [], { status: 400, code: 'validation_failed', detail: /images must NOT have fewer than 1 items/ }],
    ['too many images', Array(t.maxInputs + 1).fill(image), { status: 413, code: 'too_many_inputs', detail: new RegExp(`images has more than ${t.maxInputs} entries`) }],
    ['second image bad', [image, 'AAAAA'], { status: 400, code: 'invalid_base64', detail: /images\[1\]/ }],
  ];
  for (const route of ['/v1/tokenize', '/v1/encode', '/v1/similarity'] as const) {
    for (const [name, images, expect] of strings) {
      cases.push(postJson(`images: ${name} -> ${route}`, route, { images, ...(route === '/v1/similarity' ? { texts: [TEXT] } : {}) }, expect));
    }
  }
  return cases;
}

/** Token id rows: JSON arrays and base64 strings; decode needs N ids, encode and similarity take a prefix. */
function tokenCases(t: CorpusTarget): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const N = t.numTokens;
  const row = Array.from({ length: N }, (_, i) => (i * 5) % t.codebookSize);
  const at = (index: number, value: unknown) => row.map((v, i) => (i === index ? value : v));
  const invalid = (detail: RegExp): Expect => ({ status: 422, code: 'invalid_tokens', detail });
  const uint16 = (ids: number[]) => Buffer.from(new Uint16Array(ids).buffer).toString('base64');
  const prefixOk = (decode: Expect): Record<InferenceRoute, Expect> => ({ '/v1/decode': decode, '/v1/encode': OK, '/v1/similarity': OK, '/v1/tokenize': decode });
  const all = (e: Expect): Record<InferenceRoute, Expect> => ({ '/v1/decode': e, '/v1/encode': e, '/v1/similarity': e, '/v1/tokenize': e });
  const rows: [string, Record<string, unknown>, Record<InferenceRoute, Expect>][] = [
    ['one row of N ids', { tokens: [row] }, all(OK)],
    ['N + 1 ids', { tokens: [[...row, 1]] }, all(invalid(new RegExp(`has ${N + 1} ids`)))],
    ['N - 1 ids (a prefix)', { tokens: [row.slice(1)] }, prefixOk(invalid(new RegExp(`has ${N - 1} ids; ${t.model} needs exactly ${N}`)))],
    ['one id (a prefix)', { tokens: [[3]] }, prefixOk(invalid(/has 1 ids/))],
    ['empty row', { tokens: [row, []] }, all(invalid(/tokens\[1\] must NOT have fewer than 1 items/))],
    ['negative id', { tokens: [at(3, -1)] }, all(invalid(/tokens\[0\]\[3\] must be >= 0/))],
    ['fractional id', { tokens: [at(4, 2.5)] }, all(invalid(/tokens\[0\]\[4\] must be integer/))],
    ['id = codebook size', { tokens: [at(5, t.codebookSize)] }, all(invalid(new RegExp(`tokens\\[0\\]\\[5\\] = ${t.codebookSize} is outside the codebook \\[0, ${t.codebookSize}\\)`)))],
    ['id = 2^32 (would wrap to 0)', { tokens: [at(0, 2 ** 32)] }, all(invalid(/tokens\[0\]\[0\] = 4294967296 is outside the codebook/))],
    ['id = 2^53 + 2', { tokens: [at(0, 2 ** 53 + 2)] }, all(invalid(/outside the codebook/))],
    ['id = 1e300', { tokens: [at(1, 1e300)] }, all(invalid(/tokens\[0\]\[1\] = 1e\+300 is outside the codebook/))],
    ['id as a string', { tokens: [at(2, '7')] }, all(invalid(/tokens\[0\]\[2\] must be integer/))],
    ['id null', { tokens: [at(2, null)] }, all(invalid(/tokens\[0\]\[2\] must be integer/))],
    ['id true', { tokens: [at(2, true)] }, all(invalid(/tokens\[0\]\[2\] must be integer/))],
    ['id an array', { tokens: [at(2, [1])] }, all(invalid(/tokens\[0\]\[2\] must be integer/))],
    ['flat ids instead of rows', { tokens: row.slice(0, 3) }, all(invalid(/tokens\[0\] must be array/))],
    ['tokens an object', { tokens: { 0: row } }, all({ status: 400, code: 'validation_failed', detail: /tokens must be array/ })],
    ['no rows', { tokens: [] }, all({ status: 400, code: 'validation_failed', detail: /tokens must NOT have fewer than 1 items/ })],
    ['too many rows', { tokens: Array(t.maxInputs + 1).fill(row) }, all({ status: 413, code: 'too_many_inputs', detail: new RegExp(`tokens has more than ${t.maxInputs} entries`) })],
    ['giant row', { tokens: [Array(5000).fill(1)] }, all(invalid(/tokens\[0\] must NOT have more than 4096 items/))],
    ['tokens and tokens_base64', { tokens: [row], tokens_base64: [uint16(row)] }, all({ status: 400, code: 'bad_request', detail: /give only one of/ })],
    ['base64 row', { tokens_base64: [uint16(row)] }, all(OK)],
    ['base64 of an odd byte count', { tokens_base64: ['AAEC'] }, all(invalid(/tokens_base64\[0\] has 3 bytes, not a multiple of 2/))],
    ['base64 not base64', { tokens_base64: ['!!'] }, all(invalid(/tokens_base64\[0\] is not valid base64/))],
    ['base64 of N + 1 ids', { tokens_base64: [uint16([...row, 1])] }, all(invalid(new RegExp(`tokens_base64\\[0\\] has ${N + 1} ids`)))],
    ['base64 empty string', { tokens_base64: [''] }, all(invalid(/tokens_base64\[0\] has 0 ids/))],
    ['base64 of uint32 ids (twice the ids)', { tokens_base64: [Buffer.from(new Uint32Array(row).buffer).toString('base64')] }, all(invalid(new RegExp(`has ${2 * N} ids`)))],
    ['base64 id out of range', { tokens_base64: [uint16(at(6, 65535) as number[])] }, all(invalid(/tokens_base64\[0\]\[6\] = 65535 is outside the codebook/))],
    ['base64 not a string', { tokens_base64: [42] }, all(invalid(/tokens_base64\[0\] must be string/))],
  ];
  for (const route of ['/v1/decode', '/v1/encode', '/v1/similarity'] as const) {
    for (const [name, body, expect] of rows) {
      cases.push(postJson(`tokens: ${name} -> ${route}`, route, { ...body, ...(route === '/v1/similarity' ? { texts: [TEXT] } : {}) }, expect[route]));
    }
  }
  return cases;
}

/** Texts of /v1/encode and /v1/similarity. */
function textCases(t: CorpusTarget): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const row = Array.from({ length: t.numTokens }, (_, i) => i % t.codebookSize);
  const invalid = (detail: RegExp): Expect => ({ status: 422, code: 'invalid_text', detail });
  const emptied = invalid(/texts\[0\] is empty after the model's text cleaning/);
  const texts: [string, unknown, Expect][] = [
    ['ordinary', [TEXT, 'a dog'], OK],
    ['empty', [''], invalid(/texts\[0\] must NOT have fewer than 1 characters/)],
    ['one character over the limit', ['a'.repeat(t.maxTextChars + 1)], invalid(new RegExp(`texts\\[0\\] must NOT have more than ${t.maxTextChars} characters`))],
    ['at the limit', [`${'cat '.repeat(t.maxTextChars / 4 - 1)}dog`], OK],
    ['one long word at the limit', ['x'.repeat(t.maxTextChars)], OK],
    ['only control characters', ['\u0000\u0001\u0002\u0007\u001b[31m\u007f\u0085'], emptied],
    ['only punctuation', ['!!! ??? ...'], emptied],
    ['only white space', [' \t\n\u3000\u00a0'], emptied],
    ['only zero-width and format marks', ['\u200b\ufeff\u2060'], OK],
    ['control characters inside words', ['a\u0000 photo\u0007 of a\u001b cat'], OK],
    ['terminal escapes', ['\u001b[31ma red cat\u001b[0m'], OK],
    ['emoji and ZWJ sequences', ['a 🐈‍⬛ and a 👩🏽‍🚀'], OK],
    ['right-to-left and bidi overrides', ['قطة \u202egnp.exe\u202c חתול'], OK],
    ['combining marks (zalgo)', [`c${'\u0301\u0316\u0334'.repeat(200)}at`], OK],
    ['decomposed accents', ['cafe\u0301 a\u0308'], OK],
    ['full-width forms and ligatures', ['ａ ｃａｔ ﬁsh'], OK],
    ['astral plane characters', ['𝕒 𝕔𝕒𝕥 𓃠'], OK],
    ['html entities', ['a &lt;b&gt;cat&lt;/b&gt; &amp;amp; dog'], OK],
    ['lone high surrogate', ['a \ud800 cat'], invalid(/texts\[0\] is not valid Unicode: unpaired surrogate U\+D800 at index 2/)],
    ['lone low surrogate', ['\udc00cat'], invalid(/unpaired surrogate U\+DC00 at index 0/)],
    ['second text bad', [TEXT, ''], invalid(/texts\[1\]/)],
    ['text not a string', [42], invalid(/texts\[0\] must be string/)],
    ['texts not an array', TEXT, { status: 400, code: 'validation_failed', detail: /texts must be array/ }],
    ['no texts', [], { status: 400, code: 'validation_failed', detail: /texts must NOT have fewer than 1 items/ }],
    ['too many texts', Array(t.maxInputs + 1).fill(TEXT), { status: 413, code: 'too_many_inputs', detail: new RegExp(`texts has more than ${t.maxInputs} entries`) }],
  ];
  for (const [name, value, expect] of texts) {
    cases.push(postJson(`texts: ${name} -> /v1/encode`, '/v1/encode', { texts: value }, expect));
    cases.push(postJson(`texts: ${name} -> /v1/similarity`, '/v1/similarity', { tokens: [row], texts: value }, expect));
  }
  cases.push(postJson('texts: features of a text -> /v1/encode', '/v1/encode', { texts: [TEXT], output: 'features' }, {
    status: 422,
    code: 'capability_unavailable',
    detail: /per-token features exist for images and tokens only/,
  }));
  cases.push(postJson('texts without a visual input -> /v1/similarity', '/v1/similarity', { texts: [TEXT] }, {
    status: 400,
    code: 'bad_request',
    detail: /give images or token ids/,
  }));
  return cases;
}

/** The OpenAI-shaped /v1/embeddings and the KServe v2 metadata routes. */
function compatibilityCases(t: CorpusTarget, image: string): CorpusCase[] {
  const path = '/v1/embeddings';
  const json = (name: string, body: unknown, expect: Expect) => postJson(`embeddings: ${name}`, path, body, expect);
  const raw = (name: string, body: string, headers: Record<string, string>, expect: Expect) => post(`embeddings: ${name}`, path, body, headers, expect);
  const notJson: Expect = { status: 415, code: 'unsupported_media_type', detail: /POST \/v1\/embeddings takes an application\/json body/ };
  const get = (name: string, url: string, expect: Expect): CorpusCase => ({ name, method: 'GET', path: url, headers: {}, body: undefined, expect });
  return [
    json('one text', { input: TEXT }, OK),
    json('texts, base64 floats', { input: [TEXT, 'a dog'], encoding_format: 'base64' }, OK),
    json('an image', { input: [image], modality: 'image' }, OK),
    raw('no body', '', {}, notJson),
    raw('multipart', multipartBody([{ name: 'input', data: TEXT }]).toString('latin1'), MULTIPART_TYPE, notJson),
    raw('text/plain', TEXT, { 'content-type': 'text/plain' }, { status: 415, code: 'unsupported_media_type', detail: /unsupported Content-Type/ }),
    raw('malformed JSON', '{"input": "a', JSON_TYPE, { status: 400, code: 'invalid_json', detail: /malformed JSON body/ }),
    raw('empty JSON', '', JSON_TYPE, { status: 400, code: 'bad_request', detail: /the JSON body is empty/ }),
    json('no input', {}, { status: 400, code: 'validation_failed', detail: /lacks the required member 'input'/ }),
    json('empty input list', { input: [] }, { status: 400, code: 'bad_request', detail: /input is empty/ }),
    json('token ids', { input: [1, 2, 3] }, { status: 400, code: 'bad_request', detail: /input holds token ids/ }),
    json('unknown member', { input: TEXT, temperature: 1 }, { status: 400, code: 'validation_failed', detail: /unknown member 'temperature'/ }),
    json('too many inputs', { input: Array(t.maxInputs + 1).fill(TEXT) }, { status: 413, code: 'too_many_inputs', detail: new RegExp(`more than ${t.maxInputs} entries`) }),
    json('text over the limit', { input: 'a'.repeat(t.maxTextChars + 1) }, { status: 422, code: 'invalid_text', detail: new RegExp(`input\\[0\\] has ${t.maxTextChars + 1} characters; at most ${t.maxTextChars}`) }),
    json('huge text', { input: 'cat '.repeat(250_000) }, { status: 422, code: 'invalid_text', detail: /input\[0\] has 1000000 characters/ }),
    json('lone surrogate', { input: 'a \ud800 cat' }, { status: 422, code: 'invalid_text', detail: /input\[0\] is not valid Unicode/ }),
    json('only control characters', { input: '\u0000\u0007' }, { status: 422, code: 'invalid_text', detail: /input\[0\] is empty after the model's text cleaning/ }),
    json('image not base64', { input: ['!!!'], modality: 'image' }, { status: 400, code: 'invalid_base64', detail: /images\[0\] is not valid base64/ }),
    json('image is SVG', { input: [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>').toString('base64')], modality: 'image' }, {
      status: 415,
      code: 'unsupported_image_format',
      detail: /SVG is refused/,
    }),
    json('image URL (URLs off)', { input: ['https://169.254.169.254/latest/meta-data/'], modality: 'image' }, { status: 422, code: 'url_not_allowed' }),
    json('unknown modality', { input: TEXT, modality: 'audio' }, { status: 400, code: 'validation_failed', detail: /modality must be one of: text, image/ }),
    json('unknown model', { input: TEXT, model: 'no-such-model' }, { status: 404, code: 'unknown_model' }),
    json('dimensions that truncate', { input: TEXT, dimensions: 8 }, { status: 400, code: 'bad_request', detail: /does not truncate them/ }),
    get('kserve: metadata of the model', `/v2/models/${t.model}`, OK),
    get('kserve: unknown model', '/v2/models/no-such-model', { status: 404, code: 'unknown_model' }),
    get('kserve: model name with path characters', '/v2/models/..%2F..%2Fetc', { status: 400, code: 'validation_failed', detail: /path parameter name must match pattern/ }),
    get('kserve: over-long model name', `/v2/models/${'m'.repeat(300)}`, { status: 414, code: 'uri_too_long', detail: /longer than 100 characters/ }),
    get('bad percent-encoding', '/v2/models/%E0%A4%A', { status: 400, code: 'bad_request', detail: /not valid percent-encoding/ }),
  ];
}

/** Every case for a server with these limits and this model. `image` is a valid PNG, base64. */
export async function buildCorpus(target: CorpusTarget, image: string): Promise<CorpusCase[]> {
  const items = await imageItems();
  return [
    ...imageCases(items),
    ...requestCases(target, image),
    ...imageStringCases(target, image),
    ...tokenCases(target),
    ...textCases(target),
    ...compatibilityCases(target, image),
  ];
}
