/**
 * POST /v1/embeddings in the OpenAI Embeddings API shape, so that OpenAI SDKs and tools built on
 * them work unchanged. Additions: `modality` (text, or image inputs as base64 / data: URIs).
 * Errors stay application/problem+json like every other route.
 */
import Type, { type Static } from 'typebox';
import { EXAMPLE_TEXTS, SHIPPED_EXAMPLES } from './examples.js';
import { EncodingFormat, ModelOption } from './inference.js';

const TOKEN_ARRAYS_NOTE =
  'Arrays of token ids (OpenAI tiktoken ids) are refused: this service tokenizes texts with the model\'s own tokenizer.';

export const EmbeddingsBody = Type.Object(
  {
    input: Type.Union(
      [
        Type.String({ minLength: 1 }),
        Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
        // Accepted by the schema only to answer with a clear error (see the description).
        Type.Array(Type.Integer()),
        Type.Array(Type.Array(Type.Integer())),
      ],
      {
        description:
          'One input or an array of inputs: texts (modality text), or images as base64 or data:image/...;base64, URIs ' +
          `(modality image). At most TOKLIP_MAX_IMAGES_PER_REQUEST entries (413 beyond). ${TOKEN_ARRAYS_NOTE}`,
      },
    ),
    model: Type.Optional(ModelOption),
    modality: Type.Optional(Type.Enum(['text', 'image'], { description: 'What the input strings are', default: 'text' })),
    encoding_format: Type.Optional(EncodingFormat),
    dimensions: Type.Optional(
      Type.Integer({ minimum: 1, description: "Must equal the model's embedding_dim when given: embeddings are not truncated" }),
    ),
    user: Type.Optional(Type.String({ description: 'Accepted and ignored (OpenAI end-user id)' })),
  },
  {
    additionalProperties: false,
    examples: [{ input: EXAMPLE_TEXTS, encoding_format: 'float' }],
  },
);
export type EmbeddingsBody = Static<typeof EmbeddingsBody>;

export const EmbeddingsResponse = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(
      Type.Object({
        object: Type.Literal('embedding'),
        index: Type.Integer({ description: 'Position of the input' }),
        embedding: Type.Union([Type.Array(Type.Number()), Type.String()], {
          description: 'L2-normalised; numbers (float) or little-endian float32 bytes in base64 (base64)',
        }),
      }),
    ),
    model: Type.String(),
    usage: Type.Object(
      {
        prompt_tokens: Type.Integer({ description: 'Text tokens (without padding), or N visual tokens per image' }),
        total_tokens: Type.Integer(),
      },
      { description: 'Token counts of the inputs' },
    ),
    unknown_words: Type.Optional(
      Type.Array(Type.Array(Type.String()), {
        description: "Texts only (an addition to OpenAI's shape): per input, the words the model's tokenizer could not represent; empty when all are known",
      }),
    ),
  },
  {
    examples: [
      {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.0213, -0.0087, 0.0412] }],
        model: SHIPPED_EXAMPLES.model,
        usage: { prompt_tokens: 6, total_tokens: 6 },
        unknown_words: [[]],
      },
    ],
  },
);
