import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BundleError, loadRegistry } from '../../src/models/registry.js';
import { tempDir, writeFakeBundle } from '../helpers/fake-bundle.js';

async function problems(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BundleError, String(error));
    return [...error.problems];
  }
  assert.fail('expected a BundleError');
}

const opts = { verifyChecksums: true };

describe('model registry', () => {
  it('loads every bundle folder, sorted, with capabilities and a default model', async () => {
    const root = await tempDir();
    await writeFakeBundle(root, 'zeta');
    await writeFakeBundle(root, 'alpha', () => {}, { text: false });
    await writeFile(join(root, 'README.txt'), 'not a bundle');
    const registry = await loadRegistry(root, opts);
    assert.deepEqual(registry.ids(), ['alpha', 'zeta']);
    assert.equal(registry.defaultModel.id, 'alpha');
    assert.deepEqual(registry.get('zeta')!.capabilities, ['tokenize', 'decode', 'encode_image', 'encode_tokens', 'encode_text']);
    assert.deepEqual(registry.get('alpha')!.capabilities, ['tokenize', 'decode', 'encode_image', 'encode_tokens']);
    assert.deepEqual(registry.get('zeta')!.grid, [4, 4]);
    assert.equal(registry.get('zeta')!.graphPaths.vq_encoder, join(root, 'zeta', 'vq_encoder.onnx'));
    assert.ok(registry.get('zeta')!.textTokenizer);
    assert.equal(registry.get('alpha')!.textTokenizer, undefined);
    assert.equal((await loadRegistry(root, { ...opts, defaultModel: 'zeta' })).defaultModel.id, 'zeta');
  });

  it('fails clearly on an empty or missing models directory', async () => {
    const root = await tempDir();
    assert.match((await problems(loadRegistry(root, opts)))[0]!, /no model bundle under .*TOKLIP_MODELS_DIR/);
    assert.match((await problems(loadRegistry(join(root, 'nope'), opts)))[0]!, /does not exist/);
  });

  it('rejects an unknown default model', async () => {
    const root = await tempDir();
    await writeFakeBundle(root, 'one');
    assert.match((await problems(loadRegistry(root, { ...opts, defaultModel: 'two' })))[0]!, /default model 'two' is not among.*one/);
  });

  it('checks sizes and sha256 of every file', async () => {
    const root = await tempDir();
    const dir = await writeFakeBundle(root, 'm');
    await writeFile(join(dir, 'vq_decoder.onnx'), 'decoder-X'); // same size, other bytes
    assert.match((await problems(loadRegistry(root, opts))).join('\n'), /vq_decoder.onnx: sha256 .* manifest says/);
    await loadRegistry(root, { verifyChecksums: false }); // sizes still match
    await writeFile(join(dir, 'vq_decoder.onnx'), 'short');
    assert.match((await problems(loadRegistry(root, { verifyChecksums: false }))).join('\n'), /vq_decoder.onnx: size 5, manifest says 9/);
  });

  it('reports missing files, schema errors and inconsistent shapes', async () => {
    const root = await tempDir();
    await writeFakeBundle(root, 'm', (m) => {
      m.files['extra.bin'] = { sha256: '0'.repeat(64), size: 1 };
    });
    assert.match((await problems(loadRegistry(root, opts))).join('\n'), /extra.bin: missing/);

    const root2 = await tempDir();
    await writeFakeBundle(root2, 'm', (m) => {
      m.format_version = 2;
    });
    assert.match((await problems(loadRegistry(root2, opts))).join('\n'), /manifest.format_version/);

    const root3 = await tempDir();
    await writeFakeBundle(root3, 'm', (m) => {
      m.num_tokens = 15;
      m.graphs.vq_decoder.inputs[0].shape = ['batch', 99];
    });
    const found = (await problems(loadRegistry(root3, opts))).join('\n');
    assert.match(found, /grid 4x4 does not give num_tokens 15/);
    assert.match(found, /graphs.vq_decoder.inputs 'ids': shape \["batch",99\]/);
  });

  it('checks the tensor names, types and ranks of every graph against the bundle format', async () => {
    const root = await tempDir();
    await writeFakeBundle(root, 'm', (m) => {
      m.graphs.semantic_encoder.outputs[1].name = 'pooled';
      m.graphs.text_encoder.inputs[0].dtype = 'float32';
    });
    const found = (await problems(loadRegistry(root, opts))).join('\n');
    assert.match(found, /manifest graphs.semantic_encoder: no output 'embedding' \(outputs: 'features', 'pooled'\)/);
    assert.match(found, /manifest graphs.semantic_encoder: unexpected output 'pooled'/);
    assert.match(found, /manifest graphs.text_encoder: input 'input_ids' is float32 of rank 2, expected int64 of rank 2/);
  });

  it('rejects two bundles with the same model id', async () => {
    const root = await tempDir();
    await writeFakeBundle(root, 'a', (m) => (m.name = 'same'));
    await writeFakeBundle(root, 'b', (m) => (m.name = 'same'));
    assert.match((await problems(loadRegistry(root, opts))).join('\n'), /model id 'same' is used by both/);
  });
});
