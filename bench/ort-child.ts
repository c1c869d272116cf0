/**
 * Child process of the raw ONNX Runtime benchmarks (bench/lib/ort-job.ts): creates the job's
 * sessions with the service's session options, measures memory, then times every graph at
 * every batch size.
 *
 *   node --import tsx bench/ort-child.ts JOB.json RESULT.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { sessionOptions } from '../src/inference/sessions.js';
import { fmt, memory } from './lib/common.js';
import { idInput, pixelInput, readBundle, textInput } from './lib/bundle.js';
import type { JobGraph, Measurement, OrtJob, OrtJobResult, SessionLoad } from './lib/ort-job.js';

const [jobPath, resultPath] = process.argv.slice(2) as [string | undefined, string | undefined];
if (jobPath === undefined || resultPath === undefined) throw new Error('usage: ort-child.ts JOB.json RESULT.json');
const output: string = resultPath;
const job = JSON.parse(readFileSync(jobPath, 'utf8')) as OrtJob;
const bundle = readBundle(job.bundleDir);

/** Deep merge of plain objects (overrides such as { extra: { session: { ... } } }). */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

const [kind, ordinal] = (job.device ?? 'cpu').split(':') as ['cpu' | 'cuda', string | undefined];
const options = merge(sessionOptions(kind, Number(ordinal ?? 0), job.threads) as Record<string, unknown>, job.overrides ?? {}) as ort.InferenceSession.SessionOptions;

function feed(graph: JobGraph, session: ort.InferenceSession, batch: number): Record<string, ort.Tensor> {
  const name = session.inputNames[0]!;
  switch (graph.input) {
    case 'pixels':
      return { [name]: new ort.Tensor('float32', pixelInput(batch, bundle.imageSize), [batch, 3, bundle.imageSize, bundle.imageSize]) };
    case 'ids':
      return { [name]: new ort.Tensor('int64', idInput(batch, bundle.numTokens, bundle.codebookSize), [batch, bundle.numTokens]) };
    case 'text': {
      const length = bundle.textContextLength!;
      return { [name]: new ort.Tensor('int64', textInput(batch, length, bundle.textVocabSize ?? 256), [batch, length]) };
    }
  }
}

async function measure(graph: JobGraph, session: ort.InferenceSession, batch: number, warmup: boolean): Promise<Measurement> {
  const inputs = feed(graph, session, batch);
  const fetches = graph.outputs ? [...graph.outputs] : undefined;
  const once = async () => {
    const t0 = performance.now();
    await (fetches ? session.run(inputs, fetches) : session.run(inputs));
    return performance.now() - t0;
  };
  const firstMs = warmup ? await once() : null;
  const times: number[] = [];
  let spent = 0;
  const cpu0 = process.cpuUsage();
  do {
    const ms = await once();
    times.push(ms);
    spent += ms;
  } while (spent < job.targetSeconds * 1000 && times.length < job.maxIterations);
  const cpu = process.cpuUsage(cpu0);
  const sorted = [...times].sort((a, b) => a - b);
  return {
    graph: graph.name,
    batch,
    firstMs,
    iterations: times.length,
    meanMs: spent / times.length,
    medianMs: sorted[Math.floor(sorted.length / 2)]!,
    minMs: sorted[0]!,
    itemsPerSecond: (batch * times.length * 1000) / spent,
    cpuMsPerItem: (cpu.user + cpu.system) / 1000 / (batch * times.length),
  };
}

async function main(): Promise<void> {
  const baselineRss = memory().rss;
  const sessions = new Map<string, ort.InferenceSession>();
  const loads: SessionLoad[] = [];
  for (const graph of job.graphs) {
    const t0 = performance.now();
    sessions.set(graph.name, await ort.InferenceSession.create(graph.path, options));
    loads.push({ graph: graph.name, createMs: performance.now() - t0, rssAfter: memory().rss });
  }
  const loadedRss = memory().rss;
  console.log(`  ${bundle.id}: sessions created, RSS ${(loadedRss / 2 ** 20).toFixed(0)} MiB (weights ${(bundle.weightBytes / 2 ** 20).toFixed(0)} MiB)`);

  const runs: Measurement[] = [];
  const skipped: { graph: string; batch: number; predictedSeconds: number }[] = [];
  for (const graph of job.graphs) {
    const session = sessions.get(graph.name)!;
    let perItemMs = 0;
    const runsPerPoint = job.warmup === 'graph' ? 1 : 2;
    for (const [i, batch] of job.batches.entries()) {
      const predictedSeconds = (perItemMs * batch * runsPerPoint) / 1000;
      if (job.maxPointSeconds !== undefined && perItemMs > 0 && predictedSeconds > job.maxPointSeconds) {
        skipped.push({ graph: graph.name, batch, predictedSeconds });
        console.log(`  ${graph.name.padEnd(18)} b=${String(batch).padStart(2)}: skipped (predicted ${predictedSeconds.toFixed(0)} s)`);
        continue;
      }
      const m = await measure(graph, session, batch, job.warmup !== 'graph' || i === 0);
      perItemMs = m.medianMs / batch;
      runs.push(m);
      console.log(
        `  ${graph.name.padEnd(18)} b=${String(batch).padStart(2)}: ${fmt(m.medianMs).padStart(6)} ms/batch  ` +
          `${fmt(m.itemsPerSecond).padStart(6)} items/s  ${fmt(m.cpuMsPerItem).padStart(6)} CPU ms/item  (${m.firstMs !== null ? `first ${fmt(m.firstMs)} ms, ` : ''}${m.iterations} timed)`,
      );
    }
  }
  for (const session of sessions.values()) await session.release();
  const result: OrtJobResult = {
    bundle: bundle.id,
    threads: job.threads,
    overrides: job.overrides ?? {},
    memory: { baselineRss, loadedRss, peakRss: memory().peakRss, sessions: loads },
    runs,
    skipped,
  };
  writeFileSync(output, JSON.stringify(result));
}

await main();
