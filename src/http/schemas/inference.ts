/**
 * Request and response schemas of the inference routes. One TypeBox definition serves
 * validation, the handler types and the OpenAPI document. Each route's options are declared
 * once (`*Options`) and used for the query string, the JSON members and the multipart fields.
 * Limits (how many inputs) come from the configuration, so the body schemas are built per app.
 */
import Type, { type Static, type TObject, type TProperties, type TSchema } from 'typebox';
import { MAX_TEXT_CHARS } from '../../engine/texts.js';
import { MODEL_ID_PATTERN } from '../../models/manifest.js';
import { EXAMPLE_IMAGE, EXAMPLE_PNG, EXAMPLE_TEXTS, EXAMPLE_TOKEN_PREFIX, SHIPPED_EXAMPLES } from './examples.js';

/** Most ids in one token row, whatever the model (TokLIP grids hold 256 or 576): rejects giant rows before any work. */
export const MAX_IDS_PER_ROW = 4096;

export interface SchemaLimits {
  readonly maxInputs: number;
}

export const ModelOption = Type.String({ pattern: MODEL_ID_PATTERN, description: 'Model id (GET /v1/models); the default model when omitted' });
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

/** The JSON body of a route: its inputs and its options, nothing else. */
function jsonBody<I extends TProperties, O extends TProperties>(inputs: I, options: TObject<O>, annotations: { description?: string; examples: unknown[] }) {
  return Type.Object({ ...inputs, ...options.properties }, { additionalProperties: false, ...annotations });
}

/** Body content map: JSON, and optionally multipart (file parts + the text fields) and raw image bodies. */
function content(json: TSchema, multipartFields?: TSchema, raw = false) {
  return {
    content: {
      'application/json': { schema: json },
      ...(multipartFields ? { 'multipart/form-data': { schema: multipartFields } } : {}),
      ...(raw ? { 'image/*': { schema: binary } } : {}),
    },
  };
}

/** Multipart text fields besides the options, for routes whose multipart form holds only images and options. */
export const NoFields = Type.Object({}, { additionalProperties: false });

/** The body a handler receives: the validated JSON body, the raw image bytes, or nothing yet (multipart is read by the handler). */
export type RequestBody<J> = J | Buffer | undefined;

/**
 * Per-text words the model's vocabulary cannot represent (they became its unknown token and
 * carry no meaning in the embedding); empty lists for byte-level vocabularies.
 */
const UnknownWords = Type.Array(Type.Array(Type.String()), {
  description: "Per text, in order: the words the model's tokenizer could not represent (mapped to its unknown token); empty when all are known",
});

// ---- tokenize
export const TokenizeOptions = Type.Object({ model: Type.Optional(ModelOption), ids_format: Type.Optional(IdsFormat) }, { additionalProperties: false });
export type TokenizeOptions = Static<typeof TokenizeOptions>;
export const tokenizeBody = (l: SchemaLimits) => jsonBody({ images: images(l) }, TokenizeOptions, { examples: [{ images: [EXAMPLE_IMAGE] }] });
export type TokenizeBody = Static<ReturnType<typeof tokenizeBody>>;
export const tokenizeSchemaBody = (l: SchemaLimits) =>
  content(tokenizeBody(l), Type.Object({ images: imageParts(l), ...TokenizeOptions.properties }), true);
export const TokenizeResponse = Type.Object(
  {
    model: Type.String(),
    grid: Type.Array(Type.Integer(), { minItems: 2, maxItems: 2, description: '[h, w]' }),
    codebook_size: Type.Integer(),
    tokens: Type.Optional(Type.Array(Type.Array(Type.Integer()), { description: 'ids_format json: one row of N ids per image' })),
    tokens_base64: Type.Optional(Type.Array(Type.String(), { description: 'ids_format base64: one string per image' })),
  },
  { examples: [{ model: SHIPPED_EXAMPLES.model, grid: [8, 8], codebook_size: 1024, tokens: [SHIPPED_EXAMPLES.decodeRow] }] },
);

// ---- decode
export const DecodeOptions = Type.Object(
  { model: Type.Optional(ModelOption), format: Type.Optional(ImageFormatOption), quality: Type.Optional(QualityOption) },
  { additionalProperties: false },
);
export type DecodeOptions = Static<typeof DecodeOptions>;
export const decodeBody = (l: SchemaLimits) =>
  jsonBody({ tokens: Type.Optional(tokens(l)), tokens_base64: Type.Optional(tokensBase64(l)) }, DecodeOptions, {
    description: 'Exactly one of tokens and tokens_base64, each row holding N ids',
    examples: [{ tokens: [SHIPPED_EXAMPLES.decodeRow], format: 'png' }],
  });
export type DecodeBody = Static<ReturnType<typeof decodeBody>>;
export const decodeSchemaBody = (l: SchemaLimits) => content(decodeBody(l));
export const DecodeResponse = Type.Object(
  {
    model: Type.String(),
    images: Type.Array(Type.Object({ mime: Type.String(), data: Type.String({ description: 'base64 file bytes' }) })),
  },
  { examples: [{ model: SHIPPED_EXAMPLES.model, images: [{ mime: 'image/png', data: EXAMPLE_PNG }] }] },
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
  jsonBody(
    {
      images: Type.Optional(images(l)),
      tokens: Type.Optional(tokens(l)),
      tokens_base64: Type.Optional(tokensBase64(l)),
      texts: Type.Optional(texts(l)),
    },
    EncodeOptions,
    {
      description: 'Exactly one input: images, tokens / tokens_base64 (N ids, or a raster-order prefix of 1..N ids), or texts',
      examples: [{ texts: EXAMPLE_TEXTS }, { tokens: [EXAMPLE_TOKEN_PREFIX], output: 'both' }],
    },
  );
export type EncodeBody = Static<ReturnType<typeof encodeBody>>;
export const encodeSchemaBody = (l: SchemaLimits) =>
  content(encodeBody(l), Type.Object({ images: imageParts(l), ...EncodeOptions.properties }), true);
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
    unknown_words: Type.Optional(UnknownWords),
  },
  // Abbreviated: a real embedding holds dim numbers.
  { examples: [{ model: SHIPPED_EXAMPLES.model, dim: 128, input: 'texts', embeddings: [[0.0213, -0.0087, 0.0412], [-0.0154, 0.0301, 0.0066]], unknown_words: [[], []] }] },
);

// ---- similarity
export const SimilarityOptions = Type.Object({ model: Type.Optional(ModelOption) }, { additionalProperties: false });
export type SimilarityOptions = Static<typeof SimilarityOptions>;
export const similarityBody = (l: SchemaLimits) =>
  jsonBody(
    { images: Type.Optional(images(l)), tokens: Type.Optional(tokens(l)), tokens_base64: Type.Optional(tokensBase64(l)), texts: texts(l) },
    SimilarityOptions,
    { description: 'One of images, tokens or tokens_base64, plus texts', examples: [{ images: [EXAMPLE_IMAGE], texts: EXAMPLE_TEXTS }] },
  );
export type SimilarityBody = Static<ReturnType<typeof similarityBody>>;
/** Multipart text fields besides the options: the texts (repeated `texts` fields). */
export const similarityFields = (l: SchemaLimits) => Type.Object({ texts: texts(l) }, { additionalProperties: false });
export const similaritySchemaBody = (l: SchemaLimits) =>
  content(similarityBody(l), Type.Object({ images: imageParts(l), texts: texts(l), ...SimilarityOptions.properties }));
export const SimilarityResponse = Type.Object(
  {
    model: Type.String(),
    cosine: Type.Array(Type.Array(Type.Number()), { description: 'cos(image i, text j)' }),
    probabilities: Type.Array(Type.Array(Type.Number()), {
      description: "Per image, softmax over the texts of scale * cos (the model's score convention; scale 100 for TokLIP)",
    }),
    unknown_words: UnknownWords,
  },
  { examples: [{ model: SHIPPED_EXAMPLES.model, cosine: [[0.2915, 0.1873]], probabilities: [[0.99997, 0.00003]], unknown_words: [[], []] }] },
);
