// Parity of a bundle's ONNX graphs (onnxruntime-node, CPU) against its golden/ data.
//   node tools/export/check_parity.mjs [--json] [--threads N] BUNDLE_DIR
// Also imported by test/parity/bundle-parity.test.ts (types: check_parity.d.mts).
// float32 bundles: ids identical; other arrays max|onnx - golden| <= tolerance * max|golden|.
// float16 bundles: ids >= 99 % identical, cosine similarity >= 0.999.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';

const FLOAT16_DEFAULTS = { ids_identical: 0.99, cosine: 0.999 };

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Loads one golden array as a typed array with its shape. */
function loadArray(goldenDir, entry) {
  const buf = readFileSync(join(goldenDir, entry.file));
  const bytes = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = entry.dtype === 'int64' ? new BigInt64Array(bytes) : new Float32Array(bytes);
  return { data, shape: entry.shape, dtype: entry.dtype };
}

function tensor(array) {
  return new ort.Tensor(array.dtype === 'int64' ? 'int64' : 'float32', array.data, array.shape);
}

/** First `count` items along axis 1 of a [B, T, ...] array. */
function prefix(array, count) {
  const [b, t, ...rest] = array.shape;
  const inner = rest.reduce((x, y) => x * y, 1);
  const out = new array.data.constructor(b * count * inner);
  for (let i = 0; i < b; i++) {
    out.set(array.data.subarray(i * t * inner, (i * t + count) * inner), i * count * inner);
  }
  return { data: out, shape: [b, count, ...rest], dtype: array.dtype };
}

function maxAbs(a) {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function relativeMaxError(actual, expected) {
  let err = 0;
  for (let i = 0; i < expected.length; i++) err = Math.max(err, Math.abs(actual[i] - expected[i]));
  const scale = maxAbs(expected);
  return scale > 0 ? err / scale : err;
}

/** Least cosine similarity over rows of length `rowSize` (NaN counts as failure). */
function minCosine(actual, expected, rowSize) {
  let least = 1;
  for (let r = 0; r < expected.length / rowSize; r++) {
    let dot = 0, na = 0, nb = 0;
    for (let i = r * rowSize; i < (r + 1) * rowSize; i++) {
      dot += actual[i] * expected[i];
      na += actual[i] * actual[i];
      nb += expected[i] * expected[i];
    }
    const cos = dot / Math.sqrt(na * nb);
    least = Number.isNaN(cos) ? -1 : Math.min(least, cos);
  }
  return least;
}

function identicalShare(actual, expected) {
  let same = 0;
  for (let i = 0; i < expected.length; i++) if (actual[i] === expected[i]) same++;
  return same / expected.length;
}

/**
 * Runs every graph of the bundle on its golden inputs and compares with the golden outputs.
 * @returns {{bundle: string, dtype: string, checks: object[], ok: boolean}}
 */
export async function checkBundleParity(bundleDir, { threads = 2 } = {}) {
  const dir = resolve(bundleDir);
  const manifest = readJson(join(dir, 'manifest.json'));
  if (!manifest.golden) throw new Error(`${dir} has no golden data (export with --golden)`);
  const goldenDir = join(dir, 'golden');
  const golden = readJson(join(dir, manifest.golden));
  const arrays = Object.fromEntries(
    Object.entries(golden.arrays).map(([name, entry]) => [name, loadArray(goldenDir, entry)]),
  );
  // float16 criteria for graphs computed in float16 (a float16 bundle may keep vq_encoder float32)
  const halfGraph = (name) =>
    manifest.dtype === 'float16' && !String(manifest.graphs[name].compute_dtype ?? 'float16').startsWith('float32');
  const criteria = { ...FLOAT16_DEFAULTS, ...(golden.float16_criteria ?? {}) };
  const checks = [];
  const options = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 };

  const session = async (name) =>
    ort.InferenceSession.create(join(dir, manifest.graphs[name].file), options);
  const compare = (graph, name, output, rowSize) => {
    const expected = arrays[name];
    if (halfGraph(graph)) {
      const value = minCosine(output.data, expected.data, rowSize);
      checks.push({ graph, array: name, metric: 'min_cosine', value, limit: criteria.cosine, ok: value >= criteria.cosine });
    } else {
      const limit = golden.tolerances[name];
      const value = relativeMaxError(output.data, expected.data);
      checks.push({ graph, array: name, metric: 'max_abs_err/max_abs', value, limit, ok: value <= limit });
    }
  };
  const run = async (name, feeds) => {
    const s = await session(name);
    try {
      return await s.run(feeds);
    } finally {
      await s.release();
    }
  };

  // vq_encoder: pixels -> ids. float32: identical except at near-ties (golden.near_ties:
  // tokens whose two best codes are within rounding distance), which may go either way.
  {
    const fp16 = halfGraph('vq_encoder');
    const out = await run('vq_encoder', { pixels: tensor(arrays.pixels) });
    const n = arrays.ids.shape[1];
    const ties = new Set(fp16 ? [] : (golden.near_ties ?? []).map(([i, t]) => i * n + t));
    const keep = (_, k) => !ties.has(k);
    const value = identicalShare(out.ids.data.filter(keep), arrays.ids.data.filter(keep));
    const tiesDiffering = [...ties].filter((k) => out.ids.data[k] !== arrays.ids.data[k]).length;
    const limit = fp16 ? criteria.ids_identical : 1;
    checks.push({
      graph: 'vq_encoder', array: 'ids', metric: 'identical_share', value, limit, ok: value >= limit,
      ...(ties.size ? { note: `${ties.size} near-tie tokens excluded, ${tiesDiffering} of them differ` } : {}),
    });
  }
  // semantic_encoder: golden ids -> features, embedding; and a raster-order prefix of them
  {
    const s = await session('semantic_encoder');
    const fp16 = halfGraph('semantic_encoder');
    try {
      const d = manifest.embedding_dim;
      const out = await s.run({ ids: tensor(arrays.ids) });
      compare('semantic_encoder', 'features', out.features, d);
      compare('semantic_encoder', 'embedding', out.embedding, d);
      if (arrays.prefix_embedding) {
        const t = golden.prefix_tokens;
        const part = await s.run({ ids: tensor(prefix(arrays.ids, t)) });
        const feat = prefix(arrays.features, t);
        const value = fp16
          ? minCosine(part.features.data, feat.data, d)
          : relativeMaxError(part.features.data, feat.data);
        const limit = fp16 ? criteria.cosine : golden.tolerances.features;
        checks.push({
          graph: 'semantic_encoder', array: `features[:, :${t}] (prefix input)`,
          metric: fp16 ? 'min_cosine' : 'max_abs_err/max_abs', value, limit, ok: fp16 ? value >= limit : value <= limit,
        });
        compare('semantic_encoder', 'prefix_embedding', part.embedding, d);
      }
    } finally {
      await s.release();
    }
  }
  // vq_decoder: golden ids -> reconstruction
  {
    const out = await run('vq_decoder', { ids: tensor(arrays.ids) });
    compare('vq_decoder', 'reconstruction', out.pixels, out.pixels.data.length / arrays.ids.shape[0]);
  }
  // text_encoder: golden input ids -> text embedding
  if (manifest.graphs.text_encoder) {
    const out = await run('text_encoder', { input_ids: tensor(arrays.text_input_ids) });
    compare('text_encoder', 'text_embedding', out.embedding, manifest.embedding_dim);
  }
  return { bundle: dir, dtype: manifest.dtype, checks, ok: checks.every((c) => c.ok) };
}

async function main(argv) {
  const json = argv.includes('--json');
  const t = argv.indexOf('--threads');
  const threads = t >= 0 ? Number(argv[t + 1]) : 2;
  const dirs = argv.filter((a, i) => !a.startsWith('--') && (t < 0 || i !== t + 1));
  if (dirs.length !== 1) {
    console.error('usage: node tools/export/check_parity.mjs [--json] [--threads N] BUNDLE_DIR');
    process.exit(2);
  }
  const report = await checkBundleParity(dirs[0], { threads });
  if (json) {
    process.stdout.write(JSON.stringify(report));
  } else {
    for (const c of report.checks) {
      const note = c.note ? ` [${c.note}]` : '';
      console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.graph}.${c.array}: ${c.metric} ${c.value.toPrecision(4)} (limit ${c.limit})${note}`);
    }
  }
  process.exit(report.ok ? 0 : 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(2);
  });
}
