// Runs an exported bundle the way the service does (onnxruntime-node on CPU, tokenizers.js),
// for tools/train/evaluate.py: the model card's numbers then describe the served graphs.
//   node tools/train/run_bundle.mjs REQUEST.json
// REQUEST: {"bundle": dir, "pixels": {"file", "shape": [B,3,R,R]}, "texts": [...], "out": dir}
// Writes to out/: ids.bin (int64 [B,N]), embedding.bin (float32 [B,D]), reconstruction.bin
// (float32 [B,3,R,R]), text_input_ids.bin (int64 [T,L]), text_embedding.bin (float32 [T,D]).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { openSession } from './ort_session.mjs';

const BATCH = 32;

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function float32File(path) {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** Lays out texts as the manifest says: [tokens..., eos, pad, ...], eos kept at L-1. */
function textInputIds(bundleDir, manifest, texts) {
  const t = manifest.text;
  const tokenizer = new Tokenizer(readJson(join(bundleDir, t.tokenizer)), {});
  const L = t.context_length;
  const out = new BigInt64Array(texts.length * L).fill(BigInt(t.pad_id));
  texts.forEach((text, i) => {
    let ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (t.add_bos) ids = [t.bos_id, ...ids];
    if (t.append_eos) ids = [...ids.slice(0, L - 1), t.eos_id];
    ids.slice(0, L).forEach((id, j) => { out[i * L + j] = BigInt(id); });
  });
  return { data: out, shape: [texts.length, L] };
}

/** Runs `graph` over the batch axis in chunks, concatenating each output. */
async function runBatched(session, inputName, input, outputs) {
  const [b, ...rest] = input.shape;
  const inner = rest.reduce((x, y) => x * y, 1);
  const type = input.data instanceof BigInt64Array ? 'int64' : 'float32';
  const parts = Object.fromEntries(outputs.map((o) => [o, []]));
  let shapes = {};
  for (let i = 0; i < b; i += BATCH) {
    const n = Math.min(BATCH, b - i);
    const feed = new ort.Tensor(type, input.data.subarray(i * inner, (i + n) * inner), [n, ...rest]);
    const res = await session.run({ [inputName]: feed });
    for (const o of outputs) {
      parts[o].push(res[o].data);
      shapes[o] = res[o].dims.slice(1);
    }
  }
  return Object.fromEntries(outputs.map((o) => {
    const chunks = parts[o];
    const total = chunks.reduce((s, c) => s + c.length, 0);
    const data = new chunks[0].constructor(total);
    let off = 0;
    for (const c of chunks) { data.set(c, off); off += c.length; }
    return [o, { data, shape: [b, ...shapes[o]] }];
  }));
}

function write(dir, name, array) {
  writeFileSync(join(dir, name), Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength));
}

async function main() {
  const request = readJson(process.argv[2]);
  const bundle = resolve(request.bundle);
  const manifest = readJson(join(bundle, 'manifest.json'));
  const out = resolve(request.out);
  mkdirSync(out, { recursive: true });
  const open = (name) => openSession(join(bundle, manifest.graphs[name].file), request.threads);

  const pixels = { data: float32File(request.pixels.file), shape: request.pixels.shape };
  const enc = await open('vq_encoder');
  const { ids } = await runBatched(enc, 'pixels', pixels, ['ids']);
  await enc.release();
  write(out, 'ids.bin', ids);

  const sem = await open('semantic_encoder');
  const { embedding } = await runBatched(sem, 'ids', ids, ['embedding']);
  await sem.release();
  write(out, 'embedding.bin', embedding);

  const dec = await open('vq_decoder');
  const { pixels: rec } = await runBatched(dec, 'ids', ids, ['pixels']);
  await dec.release();
  write(out, 'reconstruction.bin', rec);

  const result = { ids: ids.shape, embedding: embedding.shape, reconstruction: rec.shape };
  if (request.texts?.length) {
    const inputIds = textInputIds(bundle, manifest, request.texts);
    write(out, 'text_input_ids.bin', inputIds);
    const txt = await open('text_encoder');
    const { embedding: te } = await runBatched(txt, 'input_ids', inputIds, ['embedding']);
    await txt.release();
    write(out, 'text_embedding.bin', te);
    Object.assign(result, { text_input_ids: inputIds.shape, text_embedding: te.shape });
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
