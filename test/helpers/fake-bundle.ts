/**
 * Writes bundle folders for registry tests: a valid manifest whose files are placeholder bytes
 * (the registry checks sizes and hashes, not ONNX contents).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WORD_TOKENIZER = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [],
  normalizer: null,
  pre_tokenizer: { type: 'Whitespace' },
  post_processor: null,
  decoder: null,
  model: {
    type: 'WordLevel',
    vocab: { '<pad>': 0, '<eos>': 1, '<bos>': 2, '<unk>': 3, a: 4, photo: 5, of: 6, cat: 7, dog: 8, its: 9 },
    unk_token: '<unk>',
  },
};

export function tempDir(prefix = 'toklip-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function writeFakeBundle(
  root: string,
  name: string,
  edit: (manifest: Record<string, any>) => void = () => {},
  options: { text?: boolean } = {},
): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const text = options.text ?? true;
  const contents: Record<string, Buffer> = {
    'vq_encoder.onnx': Buffer.from(`vq-encoder-${name}`),
    'semantic_encoder.onnx': Buffer.from(`semantic-${name}`),
    'vq_decoder.onnx': Buffer.from(`decoder-${name}`),
  };
  if (text) {
    contents['text_encoder.onnx'] = Buffer.from(`text-${name}`);
    contents['tokenizer.json'] = Buffer.from(JSON.stringify(WORD_TOKENIZER));
  }
  const files: Record<string, { sha256: string; size: number }> = {};
  for (const [file, data] of Object.entries(contents)) {
    await writeFile(join(dir, file), data);
    files[file] = { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
  }
  const graph = (file: string, inputs: unknown[], outputs: unknown[]) => ({ file, external_data: [], inputs, outputs });
  const manifest: Record<string, any> = {
    format: 'toklip-bundle',
    format_version: 1,
    name,
    description: `fake ${name}`,
    image_size: 64,
    patch_size: 16,
    grid: [4, 4],
    num_tokens: 16,
    codebook: { size: 1024, dim: 8 },
    embedding_dim: 32,
    preprocessing: { resize: 'shortest', interpolation: 'bicubic', crop: 'center', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    text: text
      ? { context_length: 8, tokenizer: 'tokenizer.json', cleaning: 'canonicalize', add_bos: false, bos_id: 2, eos_id: 1, pad_id: 0, append_eos: true, padding: 'right' }
      : null,
    logit_scale: 100,
    score: { convention: 'softmax', scale: 100 },
    dtype: 'float32',
    compute_dtype: 'float32',
    io_dtype: 'float32',
    graphs: {
      vq_encoder: graph('vq_encoder.onnx', [{ name: 'pixels', dtype: 'float32', shape: ['batch', 3, 64, 64] }], [{ name: 'ids', dtype: 'int64', shape: ['batch', 16] }]),
      semantic_encoder: graph(
        'semantic_encoder.onnx',
        [{ name: 'ids', dtype: 'int64', shape: ['batch', 'tokens'] }],
        [
          { name: 'features', dtype: 'float32', shape: ['batch', 'tokens', 32] },
          { name: 'embedding', dtype: 'float32', shape: ['batch', 32] },
        ],
      ),
      vq_decoder: graph('vq_decoder.onnx', [{ name: 'ids', dtype: 'int64', shape: ['batch', 16] }], [{ name: 'pixels', dtype: 'float32', shape: ['batch', 3, 64, 64] }]),
      ...(text
        ? { text_encoder: graph('text_encoder.onnx', [{ name: 'input_ids', dtype: 'int64', shape: ['batch', 8] }], [{ name: 'embedding', dtype: 'float32', shape: ['batch', 32] }]) }
        : {}),
    },
    files,
    golden: null,
  };
  edit(manifest);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}
