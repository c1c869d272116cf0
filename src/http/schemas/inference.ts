/**
 * Request and response schemas of the inference routes. One TypeBox definition serves
 * validation, the handler types and the OpenAPI document. Limits (how many inputs) come from
 * the configuration, so the schemas are built per app.
 */
import Type, { type Static, type TSchema } from 'typebox';

export const MAX_TEXT_CHARS = 4096;
/** Most ids in one token row, whatever the model (TokLIP grids hold 256 or 576): rejects giant rows before any work. */
export const MAX_IDS_PER_ROW = 4096;

export interface SchemaLimits {
  readonly maxInputs: number;
}

export const ModelOption = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]*$',
  description: 'Model id (GET /v1/models); the default model when omitted',
  examples: ['toklip-s-256'],
});
export const IdsFormat = Type.Enum(['json', 'base64'], {
  description: 'json: arrays of integers; base64: little-endian uint16 per id (codebook <= 65536) or uint32',
  default: 'json',
});
export const ImageFormatOption = Type.Enum(['png', 'jpeg', 'webp'], { description: 'Reconstruction file format', default: 'png' });
export const QualityOption = Type.Integer({ minimum: 1, maximum: 100, description: 'jpeg/webp quality', default: 90 });
export const OutputOption = Type.Enum(['embedding', 'features', 'both'], {
  description: 'embedding: pooled vector; features: per-token features (images and tokens only); both',
  default: 'embedding',
});
export const NormalizeOption = Type.Boolean({ description: 'L2-normalise embeddings (features are never normalised)', default: true });
export const EncodingFormat = Type.Enum(['float', 'base64'], {
  description: 'float: JSON numbers; base64: little-endian float32 bytes',
  default: 'float',
});

const images = (l: SchemaLimits) =>
  // No minLength: Ajv counts code points by walking the whole string, a cost on every
  // megabyte-long image; the decoder refuses empty strings (invalid_base64).
  Type.Array(Type.String({ description: 'base64 image bytes or a data:image/...;base64, URI (not empty)' }), {
    minItems: 1,
    maxItems: l.maxInputs,
    description: 'PNG, JPEG, WebP, GIF (first frame), TIFF or AVIF images',
  });
const tokens = (l: SchemaLimits) =>
  Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, maxItems: MAX_IDS_PER_ROW }), {
    minItems: 1,
    maxItems: l.maxInputs,
    description: 'Token id rows in raster order',
  });
const tokensBase64 = (l: SchemaLimits) =>
  Type.Array(
    Type.String({
      maxLength: Math.ceil((MAX_IDS_PER_ROW * 4) / 3) + 4,
      description: 'little-endian uint16 (codebook <= 65536) or uint32 ids, base64',
    }),
    { minItems: 1, maxItems: l.maxInputs },
  );
const texts = (l: SchemaLimits) =>
  Type.Array(Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS }), { minItems: 1, maxItems: l.maxInputs, description: 'Texts' });

const binary = Type.String({ format: 'binary' });
const imageParts = (l: SchemaLimits) =>
  Type.Array(binary, { maxItems: l.maxInputs, description: 'One file part per image, in order (any field name)' });

/** Body content map: JSON, multipart and (optionally) raw image bodies. */
function content(json: TSchema, multipart?: TSchema, raw = false) {
  return {
    content: {
      'application/json': { schema: json },
      ...(multipart ? { 'multipart/form-data': { schema: multipart } } : {}),
      ...(raw ? { 'image/*': { schema: binary } } : {}),
    },
  };
}

// ---- tokenize
export const TokenizeOptions = Type.Object({ model: Type.Optional(ModelOption), ids_format: Type.Optional(IdsFormat) }, { additionalProperties: false });
export type TokenizeOptions = Static<typeof TokenizeOptions>;
/** A 1x1 white PNG: tiny, valid example input (the service resizes it to the model's size). */
const EXAMPLE_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC';

export const tokenizeBody = (l: SchemaLimits) =>
  Type.Object(
    { images: images(l), model: Type.Optional(ModelOption), ids_format: Type.Optional(IdsFormat) },
    { additionalProperties: false, examples: [{ images: [`data:image/png;base64,${EXAMPLE_PNG}`], model: 'toklip-s-256' }] },
  );
export type TokenizeBody = Static<ReturnType<typeof tokenizeBody>>;
export const tokenizeSchemaBody = (l: SchemaLimits) =>
  content(
    tokenizeBody(l),
    Type.Object({ images: imageParts(l), model: Type.Optional(ModelOption), ids_format: Type.Optional(IdsFormat) }),
    true,
  );
export const TokenizeResponse = Type.Object(
  {
    model: Type.String(),
    grid: Type.Array(Type.Integer(), { minItems: 2, maxItems: 2, description: '[h, w]' }),
    codebook_size: Type.Integer(),
    tokens: Type.Optional(Type.Array(Type.Array(Type.Integer()), { description: 'ids_format json: one row of N ids per image' })),
    tokens_base64: Type.Optional(Type.Array(Type.String(), { description: 'ids_format base64: one string per image' })),
  },
  // Abbreviated: a real row holds N = h * w ids (256 for toklip-s-256).
  { examples: [{ model: 'toklip-s-256', grid: [16, 16], codebook_size: 16384, tokens: [[5213, 881, 14020, 77, 9120, 3305]] }] },
);

// ---- decode
export const DecodeOptions = Type.Object(
  { model: Type.Optional(ModelOption), format: Type.Optional(ImageFormatOption), quality: Type.Optional(QualityOption) },
  { additionalProperties: false },
);
export type DecodeOptions = Static<typeof DecodeOptions>;
export const decodeBody = (l: SchemaLimits) =>
  Type.Object(
    {
      model: Type.Optional(ModelOption),
      tokens: Type.Optional(tokens(l)),
      tokens_base64: Type.Optional(tokensBase64(l)),
      format: Type.Optional(ImageFormatOption),
      quality: Type.Optional(QualityOption),
    },
    {
      additionalProperties: false,
      description: 'Exactly one of tokens and tokens_base64, each row holding N ids',
      examples: [{ model: 'toklip-s-256', tokens: [[5213, 881, 14020, 77, 9120, 3305]], format: 'png' }],
    },
  );
export type DecodeBody = Static<ReturnType<typeof decodeBody>>;
export const decodeSchemaBody = (l: SchemaLimits) => content(decodeBody(l));
export const DecodeResponse = Type.Object(
  {
    model: Type.String(),
    images: Type.Array(Type.Object({ mime: Type.String(), data: Type.String({ description: 'base64 file bytes' }) })),
  },
  { examples: [{ model: 'toklip-s-256', images: [{ mime: 'image/png', data: EXAMPLE_PNG }] }] },
);

// ---- encode
export const EncodeOptions = Type.Object(
  {
    model: Type.Optional(ModelOption),
    output: Type.Optional(OutputOption),
    normalize: Type.Optional(NormalizeOption),
    encoding_format: Type.Optional(EncodingFormat),
  },
  { additionalProperties: false },
);
export type EncodeOptions = Static<typeof EncodeOptions>;
export const encodeBody = (l: SchemaLimits) =>
  Type.Object(
    {
      images: Type.Optional(images(l)),
      tokens: Type.Optional(tokens(l)),
      tokens_base64: Type.Optional(tokensBase64(l)),
      texts: Type.Optional(texts(l)),
      model: Type.Optional(ModelOption),
      output: Type.Optional(OutputOption),
      normalize: Type.Optional(NormalizeOption),
      encoding_format: Type.Optional(EncodingFormat),
    },
    {
      additionalProperties: false,
      description: 'Exactly one input: images, tokens / tokens_base64 (N ids, or a raster-order prefix of 1..N ids), or texts',
      examples: [{ texts: ['a photo of a cat', 'a diagram'], model: 'toklip-s-256' }],
    },
  );
export type EncodeBody = Static<ReturnType<typeof encodeBody>>;
export const encodeSchemaBody = (l: SchemaLimits) =>
  content(
    encodeBody(l),
    Type.Object({
      images: imageParts(l),
      model: Type.Optional(ModelOption),
      output: Type.Optional(OutputOption),
      normalize: Type.Optional(NormalizeOption),
      encoding_format: Type.Optional(EncodingFormat),
    }),
    true,
  );
export const EncodeResponse = Type.Object(
  {
    model: Type.String(),
    dim: Type.Integer({ description: 'Embedding (and feature) width D' }),
    input: Type.Enum(['images', 'tokens', 'texts']),
    embeddings: Type.Optional(
      Type.Array(Type.Unknown({ description: 'D numbers (encoding_format float) or a base64 string of D float32' }), {
        description: 'One per input, in order',
      }),
    ),
    features: Type.Optional(
      Type.Array(Type.Unknown({ description: 'T rows of D numbers, or a base64 string of T*D float32 (row-major)' }), {
        description: 'Per-token features, one entry per input; T = N for images, the row length for tokens',
      }),
    ),
  },
  // Abbreviated: a real embedding holds dim numbers (1152 for TokLIP).
  { examples: [{ model: 'toklip-s-256', dim: 1152, input: 'texts', embeddings: [[0.0213, -0.0087, 0.0412], [-0.0154, 0.0301, 0.0066]] }] },
);

// ---- similarity
export const SimilarityOptions = Type.Object({ model: Type.Optional(ModelOption) }, { additionalProperties: false });
export type SimilarityOptions = Static<typeof SimilarityOptions>;
export const similarityBody = (l: SchemaLimits) =>
  Type.Object(
    {
      images: Type.Optional(images(l)),
      tokens: Type.Optional(tokens(l)),
      tokens_base64: Type.Optional(tokensBase64(l)),
      texts: texts(l),
      model: Type.Optional(ModelOption),
    },
    {
      additionalProperties: false,
      description: 'One of images, tokens or tokens_base64, plus texts',
      examples: [{ images: [`data:image/png;base64,${EXAMPLE_PNG}`], texts: ['a photo of a cat', 'a dog'] }],
    },
  );
export type SimilarityBody = Static<ReturnType<typeof similarityBody>>;
export const similarityFields = (l: SchemaLimits) =>
  Type.Object({ texts: texts(l), model: Type.Optional(ModelOption) }, { additionalProperties: false });
export const similaritySchemaBody = (l: SchemaLimits) =>
  content(similarityBody(l), Type.Object({ images: imageParts(l), texts: texts(l), model: Type.Optional(ModelOption) }));
export const SimilarityResponse = Type.Object(
  {
    model: Type.String(),
    cosine: Type.Array(Type.Array(Type.Number()), { description: 'cos(image i, text j)' }),
    probabilities: Type.Array(Type.Array(Type.Number()), {
      description: "Per image, softmax over the texts of scale * cos (the model's score convention; scale 100 for TokLIP)",
    }),
  },
  { examples: [{ model: 'toklip-s-256', cosine: [[0.2915, 0.1873]], probabilities: [[0.99997, 0.00003]] }] },
);
