/**
 * manifest.json of a model bundle (docs/bundle-format.md, format_version 1) as a TypeBox schema.
 * Unknown members are allowed (the exporter may add provenance); the members the service reads
 * are checked here, and their consistency in registry.ts.
 */
import Type, { type Static } from 'typebox';

export const GRAPH_NAMES = ['vq_encoder', 'semantic_encoder', 'vq_decoder', 'text_encoder'] as const;
export type GraphName = (typeof GRAPH_NAMES)[number];

/**
 * A model id (docs/bundle-format.md, `name`): what requests, the configuration and the exporter
 * accept. The exporter's copy (tools/export/toklip_export/model_id.py) is compared with this one
 * by test/models/model-id.test.ts.
 */
export const MODEL_ID_PATTERN = '^[a-z0-9][a-z0-9._-]*$';

const Dim = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })]);

const TensorSpec = Type.Object({
  name: Type.String({ minLength: 1 }),
  dtype: Type.Enum(['float32', 'int64']),
  shape: Type.Array(Dim, { minItems: 1 }),
});

const GraphSpec = Type.Object({
  file: Type.String({ minLength: 1 }),
  external_data: Type.Optional(Type.Array(Type.String())),
  inputs: Type.Array(TensorSpec, { minItems: 1 }),
  outputs: Type.Array(TensorSpec, { minItems: 1 }),
});

const FileEntry = Type.Object({
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  size: Type.Integer({ minimum: 0 }),
});

const TextSpec = Type.Object({
  context_length: Type.Integer({ minimum: 2 }),
  tokenizer: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
  cleaning: Type.Enum(['canonicalize', 'lower_whitespace']),
  add_bos: Type.Boolean(),
  bos_id: Type.Integer({ minimum: 0 }),
  eos_id: Type.Integer({ minimum: 0 }),
  pad_id: Type.Integer({ minimum: 0 }),
  append_eos: Type.Boolean(),
  padding: Type.Literal('right'),
});

export const ManifestSchema = Type.Object({
  format: Type.Literal('toklip-bundle'),
  format_version: Type.Literal(1),
  name: Type.String({ pattern: MODEL_ID_PATTERN }),
  description: Type.Optional(Type.String()),
  image_size: Type.Integer({ minimum: 1 }),
  patch_size: Type.Integer({ minimum: 1 }),
  grid: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 2, maxItems: 2 }),
  num_tokens: Type.Integer({ minimum: 1 }),
  codebook: Type.Object({ size: Type.Integer({ minimum: 1 }), dim: Type.Integer({ minimum: 1 }) }),
  embedding_dim: Type.Integer({ minimum: 1 }),
  preprocessing: Type.Object({
    resize: Type.Literal('shortest'),
    interpolation: Type.Literal('bicubic'),
    crop: Type.Literal('center'),
    mean: Type.Array(Type.Number(), { minItems: 3, maxItems: 3 }),
    std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 3, maxItems: 3 }),
  }),
  text: Type.Union([TextSpec, Type.Null()]),
  logit_scale: Type.Number(),
  score: Type.Object({
    convention: Type.Literal('softmax'),
    scale: Type.Number({ exclusiveMinimum: 0 }),
    description: Type.Optional(Type.String()),
  }),
  dtype: Type.Enum(['float32', 'float16']),
  compute_dtype: Type.Optional(Type.String()),
  io_dtype: Type.Optional(Type.Literal('float32')),
  graphs: Type.Object({
    vq_encoder: Type.Optional(GraphSpec),
    semantic_encoder: Type.Optional(GraphSpec),
    vq_decoder: Type.Optional(GraphSpec),
    text_encoder: Type.Optional(GraphSpec),
  }),
  files: Type.Record(Type.String(), FileEntry),
  golden: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

export type Manifest = Static<typeof ManifestSchema>;
export type GraphSpec = Static<typeof GraphSpec>;
export type TextSpec = Static<typeof TextSpec>;
