import Type, { type Static } from 'typebox';
import { CAPABILITIES } from '../../models/registry.js';

export const ModelCard = Type.Object(
  {
    id: Type.String({ description: 'Model id, used as `model` in requests' }),
    object: Type.Literal('model'),
    owned_by: Type.String(),
    default: Type.Boolean({ description: 'Used when a request names no model' }),
    description: Type.Union([Type.String(), Type.Null()]),
    capabilities: Type.Array(Type.Enum([...CAPABILITIES])),
    image_size: Type.Integer({ description: 'Square side R of the model input and of reconstructions' }),
    grid: Type.Array(Type.Integer(), { minItems: 2, maxItems: 2, description: '[h, w] of the token grid; N = h * w' }),
    num_tokens: Type.Integer({ description: 'N: token ids per image, raster order' }),
    codebook_size: Type.Integer(),
    ids_base64_bytes: Type.Integer({ description: 'Bytes per id in tokens_base64: 2 (uint16 LE) or 4 (uint32 LE)' }),
    embedding_dim: Type.Integer(),
    text_context_length: Type.Union([Type.Integer(), Type.Null()], { description: 'Token ids per text; null without a text tower' }),
    preprocessing: Type.Object({
      resize: Type.String(),
      interpolation: Type.String(),
      crop: Type.String(),
      mean: Type.Array(Type.Number()),
      std: Type.Array(Type.Number()),
    }),
    score: Type.Object({ convention: Type.String(), scale: Type.Number() }),
    dtype: Type.String({ description: 'Weight dtype: float32 | float16' }),
    compute_dtype: Type.String(),
    execution_provider: Type.String({ description: 'ONNX Runtime execution provider in use: cpu | cuda' }),
    bundle_sha256: Type.String({
      description: "sha256 of the bundle's manifest.json (which lists every file's sha256): names the exact weights served, and keys its cached results",
    }),
    cache: Type.Object(
      {
        enabled: Type.Boolean({ description: 'Results of this model are cached (answers carry x-cache: hit, miss or partial)' }),
        memory_bytes: Type.Integer({ description: 'Bound of the in-process cache (TOKLIP_CACHE_MB); 0: none' }),
        shared: Type.Boolean({ description: 'Results are also shared through Redis between replicas (TOKLIP_CACHE_REDIS_URL)' }),
      },
      { description: 'The result cache (README, Configuration: TOKLIP_CACHE_*)' },
    ),
  },
  { $id: 'Model' },
);

export const ModelList = Type.Object(
  {
    object: Type.Literal('list'),
    default_model: Type.String(),
    data: Type.Array(Type.Ref('Model')),
  },
  {
    examples: [
      {
        object: 'list',
        default_model: 'toklip-s-256',
        data: [
          {
            id: 'toklip-s-256',
            object: 'model',
            owned_by: 'toklip-serve',
            default: true,
            description: 'TokLIP-S at 256 px',
            capabilities: ['tokenize', 'decode', 'encode_image', 'encode_tokens', 'encode_text'],
            image_size: 256,
            grid: [16, 16],
            num_tokens: 256,
            codebook_size: 16384,
            ids_base64_bytes: 2,
            embedding_dim: 1152,
            text_context_length: 64,
            preprocessing: { resize: 'shortest', interpolation: 'bicubic', crop: 'center', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
            score: { convention: 'softmax', scale: 100 },
            dtype: 'float32',
            compute_dtype: 'float32',
            execution_provider: 'cuda',
            bundle_sha256: '5f0c3a1b9d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8',
            cache: { enabled: true, memory_bytes: 134217728, shared: false },
          },
        ],
      },
    ],
  },
);

export type ModelCard = Static<typeof ModelCard>;
