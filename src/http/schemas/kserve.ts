/**
 * KServe Open Inference Protocol (v2) health and model metadata: the response objects of
 * /v2/health/live, /v2/health/ready, /v2/models/{name} and /v2/models/{name}/ready.
 */
import Type from 'typebox';
import { MODEL_ID_PATTERN } from '../../models/manifest.js';
import { SHIPPED_EXAMPLES } from './examples.js';

export const ModelNameParams = Type.Object({
  name: Type.String({ pattern: MODEL_ID_PATTERN, description: 'Model id (GET /v1/models)', examples: [SHIPPED_EXAMPLES.model] }),
});

export const LiveResponse = Type.Object({ live: Type.Boolean() }, { examples: [{ live: true }] });
export const ReadyResponse = Type.Object({ ready: Type.Boolean() }, { examples: [{ ready: true }] });
export const ModelReadyResponse = Type.Object(
  { name: Type.String(), ready: Type.Boolean() },
  { examples: [{ name: SHIPPED_EXAMPLES.model, ready: true }] },
);

const MetadataTensor = Type.Object({
  name: Type.String({ description: '<graph>.<tensor>, e.g. vq_encoder.pixels' }),
  datatype: Type.String({ description: 'Open Inference Protocol tensor type: FP32, INT64, ...' }),
  shape: Type.Array(Type.Integer(), { description: '-1 for a variable dimension (batch, token count)' }),
});

export const ModelMetadataResponse = Type.Object(
  {
    name: Type.String(),
    versions: Type.Array(Type.String()),
    platform: Type.String({ description: 'onnxruntime_onnx' }),
    inputs: Type.Array(MetadataTensor),
    outputs: Type.Array(MetadataTensor),
    parameters: Type.Object(
      {
        description: Type.String(),
        capabilities: Type.String({ description: 'Comma-separated: tokenize, decode, encode_image, encode_tokens, encode_text' }),
        execution_provider: Type.String(),
        embedding_dim: Type.Integer(),
        num_tokens: Type.Integer(),
        image_size: Type.Integer(),
      },
      { description: 'The model card of GET /v1/models, flattened to protocol parameters' },
    ),
  },
  {
    description: 'The ONNX graphs of the bundle as the protocol describes a model: every graph input and output',
    examples: [
      {
        name: 'toklip-s-256',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'vq_encoder.pixels', datatype: 'FP32', shape: [-1, 3, 256, 256] }],
        outputs: [{ name: 'vq_encoder.ids', datatype: 'INT64', shape: [-1, 256] }],
        parameters: {
          description: 'TokLIP-S at 256 px',
          capabilities: 'tokenize,decode,encode_image,encode_tokens,encode_text',
          execution_provider: 'cuda',
          embedding_dim: 1152,
          num_tokens: 256,
          image_size: 256,
        },
      },
    ],
  },
);
