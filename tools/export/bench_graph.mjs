// Times one bundle graph in onnxruntime-node (CPU) on random inputs of the manifest's shapes.
//   node tools/export/bench_graph.mjs BUNDLE_DIR GRAPH [--batch 1] [--iterations 5] [--threads 2]
// Used to choose between export variants (e.g. semantic_encoder table vs mlp input); the
// service's own benchmarks live in bench/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const [dir, graph] = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!dir || !graph) {
  console.error('usage: node tools/export/bench_graph.mjs BUNDLE_DIR GRAPH [--batch N] [--iterations N] [--threads N]');
  process.exit(2);
}
const batch = flag('batch', 1);
const iterations = flag('iterations', 5);
const threads = flag('threads', 2);
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const entry = manifest.graphs[graph];
const created = performance.now();
const session = await ort.InferenceSession.create(join(dir, entry.file), {
  intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3,
});
const loadMs = performance.now() - created;

const feeds = {};
for (const input of entry.inputs) {
  const shape = input.shape.map((d) => (d === 'batch' ? batch : d === 'tokens' ? manifest.num_tokens : d));
  const size = shape.reduce((a, b) => a * b, 1);
  if (input.dtype === 'int64') {
    const high = input.name === 'input_ids' ? manifest.architecture.text.vocab_size : manifest.codebook.size;
    feeds[input.name] = new ort.Tensor('int64', BigInt64Array.from({ length: size }, (_, i) => BigInt((i * 7919) % high)), shape);
  } else {
    feeds[input.name] = new ort.Tensor('float32', Float32Array.from({ length: size }, (_, i) => Math.sin(i) * 0.9), shape);
  }
}
await session.run(feeds); // warm-up
const times = [];
for (let i = 0; i < iterations; i++) {
  const t = performance.now();
  await session.run(feeds);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ bundle: dir, graph, batch, threads, load_ms: Math.round(loadMs), median_ms: Math.round(median), min_ms: Math.round(times[0]) }));
await session.release();
