/**
 * POST /v1/decode: token ids -> reconstructed images (vq_decoder), as JSON with base64 files,
 * or, for one image when the Accept header prefers an image type, the file bytes themselves.
 */
import { ServiceError } from '../../errors.js';
import { type ReconstructionFormat, DEFAULT_QUALITY, RECONSTRUCTION_MIME } from '../../images/index.js';
import { parseInput, requireOne } from '../inputs/request.js';
import { tokenRows } from '../inputs/tokens.js';
import { httpRequestContext, setCacheHeader, setTimingHeaders } from '../request-context.js';
import type { RoutePlugin } from '../route-options.js';
import { type DecodeBody, DecodeOptions, DecodeResponse, type RequestBody, decodeSchemaBody } from '../schemas/inference.js';
import { problemResponses } from '../schemas/problem.js';

const FORMATS = Object.keys(RECONSTRUCTION_MIME) as ReconstructionFormat[];

/** q-value the Accept header gives a media type (most specific match wins); 1 when absent. */
export function acceptQuality(accept: string | undefined, type: string): number {
  if (accept === undefined || accept.trim() === '') return 1;
  const [major] = type.split('/');
  let best = { specificity: -1, q: 0 };
  for (const entry of accept.split(',')) {
    const [range, ...params] = entry.trim().toLowerCase().split(';');
    const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    const specificity = range === type ? 2 : range === `${major}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity > best.specificity) best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best.q;
}

/** The image format the Accept header asks for when it names one of ours and no format was given. */
function formatFromAccept(accept: string | undefined): ReconstructionFormat | undefined {
  if (accept === undefined) return undefined;
  const ranked = FORMATS.map((f) => ({ f, q: accept.toLowerCase().includes(RECONSTRUCTION_MIME[f]) ? acceptQuality(accept, RECONSTRUCTION_MIME[f]) : 0 }))
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q);
  return ranked[0]?.f;
}

export const decodeRoutes: RoutePlugin = async (app, options) => {
  const { config, state } = options;
  app.post<{ Body: RequestBody<DecodeBody>; Querystring: DecodeOptions }>(
    '/v1/decode',
    {
      schema: {
        tags: ['inference'],
        operationId: 'decode',
        summary: 'Token ids to reconstructed images',
        description:
          'Each row holds exactly N ids. JSON answer by default; a single image comes back as bare file bytes when the ' +
          'Accept header prefers image/png, image/jpeg, image/webp or image/* over application/json.',
        querystring: DecodeOptions,
        body: decodeSchemaBody({ maxInputs: config.maxImagesPerRequest }),
        response: {
          200: {
            description: 'Reconstructions',
            content: {
              'application/json': { schema: DecodeResponse },
              'image/png': { schema: { type: 'string', format: 'binary' } },
              'image/jpeg': { schema: { type: 'string', format: 'binary' } },
              'image/webp': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...problemResponses([
            'invalid_json', 'invalid_base64', 'invalid_tokens', 'unknown_model', 'payload_too_large', 'too_many_inputs',
            'not_acceptable', 'unsupported_media_type', 'capability_unavailable', 'queue_full', 'inference_failed',
            'worker_crashed', 'deadline_exceeded',
          ]),
        },
      },
    },
    async (request, reply) => {
      const engine = state.requireEngine();
      const { input, options: opts } = await parseInput(request, request.body, request.query, {
        options: DecodeOptions,
        raw: false,
        bodyLimitBytes: config.bodyLimitBytes,
        maxInputs: config.maxImagesPerRequest,
      });
      const body: Partial<DecodeBody> = input.json ?? {};
      requireOne({ tokens: body.tokens !== undefined, tokens_base64: body.tokens_base64 !== undefined }, 'token ids');
      const model = engine.resolveModel(opts.model, 'decode');
      const { rows, field } = tokenRows(body, model.codebookSize);

      const accept = request.headers.accept;
      const format = opts.format ?? formatFromAccept(accept) ?? 'png';
      const mime = RECONSTRUCTION_MIME[format];
      const jsonQ = acceptQuality(accept, 'application/json');
      const imageQ = acceptQuality(accept, mime);
      const bare = rows.length === 1 && imageQ > jsonQ;
      if (!bare && jsonQ === 0) {
        throw new ServiceError('not_acceptable', `a JSON answer is needed for ${rows.length} images, and Accept excludes application/json`);
      }
      if (bare && imageQ === 0) throw new ServiceError('not_acceptable', `Accept excludes ${mime}`);

      const ctx = httpRequestContext(request, reply, engine, config.requestTimeoutMs);
      const result = await engine.decode({ model: model.id, rows, field, format, quality: opts.quality ?? DEFAULT_QUALITY }, ctx);
      setTimingHeaders(reply, result.timings);
      setCacheHeader(reply, result.cache);
      const files = result.value;
      if (bare) return reply.type(files[0]!.mime).send(files[0]!.data);
      return { model: model.id, images: files.map((f) => ({ mime: f.mime, data: f.data.toString('base64') })) };
    },
  );
};
