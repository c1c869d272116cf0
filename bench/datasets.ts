/**
 * The dataset command's throughput (issue 28): `toklip tokenize` over a folder of 640x480 JPEGs,
 * in-process and through `--server` against a local service, next to, in the same run:
 *
 *   (a) raw ONNX Runtime's best-batch throughput of the graph tokenize runs (vq_encoder), with
 *       every core (bench/ort-child.ts, as bench/ort.ts measures it);
 *   (b) the image pool's preprocessing throughput alone (decode + resize to R, the threads the
 *       command's engine uses), on the same files.
 *
 * The cores that run both stages allow at most 1 / (1/a + 1/b) images/s; the target is 0.9 of
 * it in-process, and 0.8 of the in-process rate through --server. For the first bundle, the
 * resident set of the command is sampled along a run of --rss-images images: at 1k and at the
 * end (the target: within 10 %).
 *
 *   flock /work/notes/bench.lock npm run bench:datasets -- [--bundle DIR]... [--images N] [--rss-images N]
 *   npm run bench:datasets -- --report      # rewrite the docs/benchmarks.md section from the result file
 *
 * The images: `--distinct` photo-like pictures, copied up to N files with a JPEG comment
 * segment naming the copy, so every file has its own bytes (no deduplication) and the same
 * decoding cost. Each run of the command gets a models folder holding only the bundle measured.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { withMallocTunables } from '../src/engine/allocator.js';
import { preprocessSpec } from '../src/engine/engine.js';
import { createImagePreprocessor, defaultImageThreads } from '../src/images/index.js';
import { loadRegistry } from '../src/models/registry.js';
import { DEFAULT_OUT, REPO_ROOT, Run, fmt, readResult } from './lib/common.js';
import { readBundle } from './lib/bundle.js';
import { runOrtJob } from './lib/ort-job.js';
import { startService } from './lib/server.js';

export interface CommandRun {
  readonly images: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
  /** Process start to exit, engine start-up included. */
  readonly wallSeconds: number;
  /** [images done, RSS bytes] at each progress line. */
  readonly rss: readonly (readonly [number, number])[];
}

export interface DatasetBench {
  readonly bundle: string;
  readonly imageSize: number;
  readonly images: number;
  readonly ort: {
    readonly bestBatch: number;
    readonly spinning: boolean;
    readonly imagesPerSecond: number;
    readonly threads: number;
    readonly points: readonly { batch: number; spinning: boolean; imagesPerSecond: number }[];
  };
  readonly preprocess: { readonly threads: number; readonly images: number; readonly imagesPerSecond: number };
  /** 1 / (1/a + 1/b). */
  readonly bound: number;
  readonly inProcess: CommandRun;
  readonly server: CommandRun & { readonly layout: { workers: number; intraOpThreads: number; maxBatch: number } };
  /** RSS at about 1k images and at the end of a run of rssImages (first bundle only). */
  readonly memory?: {
    readonly images: number;
    readonly rssAt1k: number;
    readonly rssAtEnd: number;
    readonly ratio: number;
    /** Highest RSS from 1k images to the end. */
    readonly maxAfter1k: number;
    /** [images done, RSS bytes] at every progress line (one a second). */
    readonly samples: readonly (readonly [number, number])[];
  };
}

export interface DatasetResults {
  readonly jpeg: { readonly width: number; readonly height: number; readonly distinct: number; readonly meanBytes: number };
  readonly cpus: number;
  readonly bundles: readonly DatasetBench[];
  /** What else ran on the machine (ps, niced processes), recorded by hand in the run's notes. */
  readonly notes?: string;
}

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', multiple: true },
    images: { type: 'string', multiple: true },
    'rss-images': { type: 'string', default: '10000' },
    distinct: { type: 'string', default: '48' },
    out: { type: 'string', default: DEFAULT_OUT },
    doc: { type: 'string', default: join(REPO_ROOT, 'docs', 'benchmarks.md') },
    report: { type: 'boolean', default: false },
  },
});

/** A 640x480 photo-like JPEG (smooth fields, edges, noise), quality 90. */
async function photo(seed: number): Promise<Buffer> {
  const width = 640;
  const height = 480;
  const raw = Buffer.alloc(width * height * 3);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const noise = (state >>> 27) - 16;
      const i = (y * width + x) * 3;
      raw[i] = 128 + 90 * Math.sin((x + seed * 31) / (40 + (seed % 9) * 7)) + noise;
      raw[i + 1] = ((x * 255) / width + ((y >> 5) % 2) * 40 + seed * 17 + noise) & 0xff;
      raw[i + 2] = 128 + 100 * Math.cos((x + y + seed * 13) / (60 + (seed % 5) * 9)) + noise;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** The same JPEG with a comment segment after SOI: other bytes, the same pixels. */
function withComment(jpeg: Buffer, text: string): Buffer {
  const comment = Buffer.from(text, 'latin1');
  const segment = Buffer.alloc(4 + comment.length);
  segment.writeUInt16BE(0xfffe, 0);
  segment.writeUInt16BE(comment.length + 2, 2);
  comment.copy(segment, 4);
  return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]);
}

/** `count` files in `dir`, copies of the `base` pictures each with its own comment. */
function makeImages(dir: string, count: number, base: readonly Buffer[]): string[] {
  const distinct = base.length;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = join(dir, `img-${String(i).padStart(6, '0')}.jpg`);
    writeFileSync(file, withComment(base[i % distinct]!, `toklip bench copy ${i}`));
    files.push(file);
  }
  return files;
}

/** A models folder holding only this bundle (links to its files). */
function modelsFolder(bundleDir: string): string {
  const models = mkdtempSync(join(tmpdir(), 'toklip-bench-models-'));
  const linked = join(models, basename(bundleDir));
  mkdirSync(linked);
  for (const name of readdirSync(bundleDir)) symlinkSync(join(bundleDir, name), join(linked, name));
  return models;
}

function rssOf(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(/\d+/.exec(line ?? '0')![0]) * 1024;
  } catch {
    return 0;
  }
}

/** Runs `toklip tokenize` as users do (bin launcher, malloc tunables), sampling its RSS at each progress line. */
async function runCommand(input: string, models: string, extra: readonly string[]): Promise<CommandRun> {
  const out = mkdtempSync(join(tmpdir(), 'toklip-bench-out-'));
  const started = performance.now();
  const env = withMallocTunables({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    TOKLIP_MODELS_DIR: models,
    TOKLIP_DEVICE: 'cpu',
    TOKLIP_VERIFY_CHECKSUMS: 'false',
  });
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'toklip.mjs'), 'tokenize', input, '--out', out, '--progress', 'lines', '--progress-interval', '1', ...extra], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const rss: [number, number][] = [];
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    const match = /^progress: \d+% \| (\d+) images, (\d+) errors/.exec(line);
    if (match) rss.push([Number(match[1]) + Number(match[2]), rssOf(child.pid!)]);
    else if (line.trim() !== '') console.log(`  toklip: ${line}`);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  rmSync(out, { recursive: true, force: true });
  if (code !== 0) throw new Error(`toklip tokenize exited with ${code}:\n${stdout}`);
  // "  this run: N images in S s (R images/s)"
  const match = /this run: (\d+) images in ([\d.]+) s/.exec(stdout);
  if (!match) throw new Error(`no summary in the output:\n${stdout}`);
  const images = Number(match[1]);
  const seconds = Number(match[2]);
  console.log(`  ${stdout.trim().split('\n').slice(0, 2).join(' | ')}`);
  return { images, seconds, imagesPerSecond: images / seconds, wallSeconds: (performance.now() - started) / 1000, rss };
}

/** (b): the image pool alone, on the command's files, with the threads the command's engine gets. */
async function preprocessRate(models: string, files: readonly string[], count: number): Promise<DatasetBench['preprocess']> {
  const spec = preprocessSpec((await loadRegistry(models, { verifyChecksums: false })).defaultModel);
  const threads = defaultImageThreads();
  const pool = createImagePreprocessor({ threads, nice: 5 });
  const bytes = await Promise.all(files.slice(0, Math.min(files.length, count + 40)).map((f) => readFile(f)));
  const slots = threads * 4;
  const runBatch = async (from: number, to: number) => {
    let next = from;
    await Promise.all(Array.from({ length: slots }, async () => {
      while (next < to) await pool.preprocess(bytes[next++ % bytes.length]!, spec);
    }));
  };
  await runBatch(0, 40); // warm-up: workers started, allocator holding its pages
  const started = performance.now();
  await runBatch(40, 40 + count);
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return { threads, images: count, imagesPerSecond: count / seconds };
}

async function measure(bundleDir: string, imageCount: number, rssImages: number | undefined, folder: string, base: readonly Buffer[]): Promise<DatasetBench> {
  const bundle = readBundle(bundleDir);
  console.log(`${bundle.id}: ${imageCount} images`);
  const files = makeImages(folder, Math.max(imageCount, rssImages ?? 0), base);
  const models = modelsFolder(bundle.dir);
  try {
    const cpus = defaultImageThreads();
    // (a) raw ONNX Runtime, vq_encoder, every core.
    // Best over batch sizes, with intra-op spinning on (ONNX Runtime's default, fastest alone on
    // the machine) and off (the service's setting, faster when other processes want the cores).
    const full = bundle.imageSize > 200;
    const points: { batch: number; spinning: boolean; imagesPerSecond: number }[] = [];
    for (const spinning of [true, false]) {
      const job = await runOrtJob({
        bundleDir: bundle.dir,
        graphs: [{ name: 'vq_encoder', path: bundle.graphPaths.vq_encoder!, input: 'pixels' }],
        batches: full ? [1, 2, 4, 8] : [1, 2, 4, 8, 16, 32],
        threads: cpus,
        targetSeconds: full ? 8 : 2,
        maxIterations: full ? 2 : 20,
        warmup: 'point',
        overrides: { extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } } },
      });
      points.push(...job.runs.map((r) => ({ batch: r.batch, spinning, imagesPerSecond: r.itemsPerSecond })));
    }
    const best = points.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));
    console.log(`  (a) raw ORT vq_encoder: best ${fmt(best.imagesPerSecond)} images/s at batch ${best.batch}, spinning ${best.spinning ? 'on' : 'off'}`);
    // (b) preprocessing alone.
    const preprocess = await preprocessRate(models, files, full ? 200 : 600);
    console.log(`  (b) image pool: ${fmt(preprocess.imagesPerSecond)} images/s on ${preprocess.threads} threads`);
    const bound = 1 / (1 / best.imagesPerSecond + 1 / preprocess.imagesPerSecond);
    // The command on the first imageCount files (a list file), in-process and through --server.
    const list = join(folder, '..', `${basename(folder)}-${imageCount}.txt`);
    writeFileSync(list, files.slice(0, imageCount).map((f) => basename(f)).map((f) => `${basename(folder)}/${f}`).join('\n') + '\n');
    const inProcess = await runCommand(list, models, ['--dedupe-mb', '0']);
    console.log(`  in-process: ${fmt(inProcess.imagesPerSecond)} images/s (${fmt(inProcess.imagesPerSecond / bound)} of the bound ${fmt(bound)})`);
    // The service's result cache off: every image computed, as in-process.
    const service = await startService(bundle.dir, { workers: 0, intraOpThreads: 0, maxBatch: 0, maxDelayMs: 5, env: { TOKLIP_CACHE_MB: '0' } });
    let server: DatasetBench['server'];
    try {
      server = { ...(await runCommand(list, models, ['--dedupe-mb', '0', '--server', service.url])), layout: service.layout };
    } finally {
      await service.stop();
    }
    console.log(`  --server: ${fmt(server.imagesPerSecond)} images/s (${fmt(server.imagesPerSecond / inProcess.imagesPerSecond)} of in-process)`);
    let memory: DatasetBench['memory'];
    if (rssImages !== undefined) {
      const run = await runCommand(folder, models, ['--dedupe-mb', '0']);
      const at1k = run.rss.find(([n]) => n >= 1000);
      const last = run.rss.at(-1);
      if (at1k && last) {
        const maxAfter1k = Math.max(...run.rss.filter(([n]) => n >= at1k[0]).map(([, rss]) => rss));
        memory = { images: rssImages, rssAt1k: at1k[1], rssAtEnd: last[1], ratio: last[1] / at1k[1], maxAfter1k, samples: run.rss };
      }
      console.log(`  RSS: ${fmt((at1k?.[1] ?? 0) / 2 ** 20)} MiB at ${at1k?.[0]} images, ${fmt((last?.[1] ?? 0) / 2 ** 20)} MiB at ${last?.[0]} images`);
    }
    return {
      bundle: bundle.id,
      imageSize: bundle.imageSize,
      images: imageCount,
      ort: { bestBatch: best.batch, spinning: best.spinning, imagesPerSecond: best.imagesPerSecond, threads: cpus, points },
      preprocess,
      bound,
      inProcess,
      server,
      ...(memory ? { memory } : {}),
    };
  } finally {
    rmSync(models, { recursive: true, force: true });
  }
}

const pass = (ok: boolean) => (ok ? '**met**' : '**missed**');

function markdownTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((c) => (typeof c === 'number' ? fmt(c) : c)).join(' | ')} |`;
  return [line(headers), `| ${headers.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map(line)].join('\n');
}

export function renderSection(file: ReturnType<typeof readResult<DatasetResults>>): string {
  if (file === undefined) return '_no results yet (npm run bench:datasets)_';
  const r = file.results;
  const lines = [
    `\`${file.command}\`, ${file.started.replace('T', ' ').slice(0, 16)} UTC, commit ${file.machine.commit}, ${file.machine.cores} cores; ` +
      `load average ${file.loadBefore.loadavg.join(' / ')} at start, ${file.loadAfter.loadavg.join(' / ')} at end. ` +
      `Images: ${r.jpeg.width}x${r.jpeg.height} JPEGs (quality 90, ${fmt(r.jpeg.meanBytes / 1024)} KiB on average; ${r.jpeg.distinct} pictures, each file with its own bytes).`,
    '',
    markdownTable(
      ['bundle', 'images', '(a) raw ORT vq_encoder, best batch', '(b) image pool', 'bound 1/(1/a+1/b)', 'toklip tokenize', 'vs bound (target 0.9)', '--server', 'vs in-process (target 0.8)'],
      r.bundles.map((b) => [
        b.bundle,
        b.images,
        `${fmt(b.ort.imagesPerSecond)} /s (batch ${b.ort.bestBatch}, ${b.ort.threads} threads, spinning ${b.ort.spinning ? 'on' : 'off'})`,
        `${fmt(b.preprocess.imagesPerSecond)} /s (${b.preprocess.threads} threads)`,
        `${fmt(b.bound)} /s`,
        `${fmt(b.inProcess.imagesPerSecond)} /s`,
        `${fmt(b.inProcess.imagesPerSecond / b.bound)} ${pass(b.inProcess.imagesPerSecond >= 0.9 * b.bound)}`,
        `${fmt(b.server.imagesPerSecond)} /s`,
        `${fmt(b.server.imagesPerSecond / b.inProcess.imagesPerSecond)} ${pass(b.server.imagesPerSecond >= 0.8 * b.inProcess.imagesPerSecond)}`,
      ]),
    ),
    '',
    ...r.bundles.flatMap((b) =>
      b.memory
        ? [
            `Memory (${b.bundle}, ${b.memory.images} images in one run): RSS ${fmt(b.memory.rssAt1k / 2 ** 20)} MiB at 1k images, ` +
              `${fmt(b.memory.rssAtEnd / 2 ** 20)} MiB at the end: ${fmt(b.memory.ratio)} x, ${pass(Math.abs(b.memory.ratio - 1) <= 0.1)} (target: within 10 %); ` +
              `highest after 1k images ${fmt(b.memory.maxAfter1k / 2 ** 20)} MiB; every 1000 images: ` +
              `${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((k) => b.memory!.samples.find(([n]) => n >= k * 1000 - 150)).filter((x) => x !== undefined).map(([n, rss]) => `${n}: ${fmt(rss / 2 ** 20)}`).join(', ')} MiB.`,
            '',
          ]
        : [],
    ),
    ...r.bundles.map((b) => `- ${b.bundle}: raw ORT vq_encoder per batch, spinning on / off: ${b.ort.points.filter((p) => p.spinning).map((p) => `b=${p.batch} ${fmt(p.imagesPerSecond)} / ${fmt(b.ort.points.find((q) => !q.spinning && q.batch === p.batch)?.imagesPerSecond ?? NaN)}`).join(', ')} images/s; the command's wall time ${fmt(b.inProcess.wallSeconds)} s in-process (engine start included), ${fmt(b.server.wallSeconds)} s through --server (service ${b.server.layout.workers} worker(s) x ${b.server.layout.intraOpThreads} thread(s), max batch ${b.server.layout.maxBatch}).`),
    ...(r.notes ? ['', r.notes] : []),
  ];
  return lines.join('\n');
}

function writeSection(): void {
  const file = readResult<DatasetResults>(join(values.out, 'datasets.json'));
  const doc = readFileSync(values.doc, 'utf8');
  const open = '<!-- bench:datasets -->';
  const close = '<!-- /bench:datasets -->';
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (start < 0 || end < start) throw new Error(`${values.doc}: markers ${open} ... ${close} are missing`);
  writeFileSync(values.doc, `${doc.slice(0, start + open.length)}\n${renderSection(file)}\n${doc.slice(end)}`);
  console.log(`wrote the datasets section of ${values.doc.replace(REPO_ROOT + '/', '')}`);
}

async function main(): Promise<void> {
  if (values.report) return writeSection();
  const dirs = values.bundle ?? ['models/toklip-scenes-128', 'models-local/toklip-s-256-random'].filter((d) => existsSync(join(REPO_ROOT, d)));
  const counts = (values.images ?? []).map(Number);
  const run = new Run<DatasetResults>('datasets', { bundles: dirs, images: counts, rssImages: Number(values['rss-images']), distinct: Number(values.distinct) });
  const folder = join(DEFAULT_OUT, 'tmp', 'datasets-640x480');
  const base = await Promise.all(Array.from({ length: Number(values.distinct) }, (_, i) => photo(i)));
  const bundles: DatasetBench[] = [];
  for (const [i, dir] of dirs.entries()) {
    const full = readBundle(dir).imageSize > 200;
    bundles.push(await measure(dir, counts[i] ?? (full ? 48 : 2000), i === 0 ? Number(values['rss-images']) : undefined, folder, base));
  }
  rmSync(folder, { recursive: true, force: true });
  const meanBytes = base.reduce((n, b) => n + b.length, 0) / base.length;
  run.finish({ jpeg: { width: 640, height: 480, distinct: base.length, meanBytes }, cpus: defaultImageThreads(), bundles }, values.out);
  writeSection();
}

await main();
