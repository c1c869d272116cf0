/**
 * The scheduler: one dynamic batcher per (model, graph), all sharing the worker pool through
 * one Dispatcher. It runs the model's graphs for the engine (tokenize, encode tokens / images /
 * texts, decode) and hides batching: a caller hands in its items and gets its outputs in order,
 * plus queue and inference times. Tensors are fed and fetched by the names of the bundle
 * format's graph contract (src/models/graph-contract.ts), which the registry checked against the
 * manifest and the workers against each session.
 *
 *   image -> embedding = vq_encoder batcher, then semantic_encoder batcher
 *   tokenize and the first half of encode-image share the vq_encoder batcher.
 */
import type { Logger } from 'pino';
import { ServiceError } from '../errors.js';
import type { RunRequest, RunResult } from '../inference/protocol.js';
import type { Metrics } from '../metrics.js';
import { GRAPH_CONTRACT } from '../models/graph-contract.js';
import type { GraphName } from '../models/manifest.js';
import type { ModelBundle, ModelRegistry } from '../models/registry.js';
import type { Tracing } from '../tracing/index.js';
import { Batcher, type BatcherObserver, type BatchRunner, type StageResult, type WorkContext } from './batcher.js';
import { type Clock, systemClock } from './clock.js';
import { Dispatcher } from './dispatcher.js';
import type { QueueLoad, StageCost } from './wait-estimate.js';

/** What the scheduler needs from the inference layer (the WorkerPool, or a test double). */
export interface BatchExecutor {
  readonly size: number;
  /** Batches accepted beyond one per worker, queued behind running ones (each worker's next batch); 0 if absent. */
  readonly stagingSlots?: number;
  readonly provider: string;
  readonly isHealthy: boolean;
  run(request: RunRequest): Promise<RunResult>;
  close(): Promise<void>;
}

export interface BatchingConfig {
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  readonly queueLimit: number;
}

/** One stage of a request as the admission controller sees it. */
export interface StageView {
  readonly name: string;
  readonly queueLimit: number;
  load(): QueueLoad;
  stageCost(): StageCost;
}

/** Output of semantic_encoder for one row. */
export interface SemanticOutput {
  /** [D], not normalised. */
  readonly embedding: Float32Array;
  /** [T * D] row-major, when asked for. */
  readonly features: Float32Array | undefined;
}

/** An image through vq_encoder and semantic_encoder. */
export interface ImageEncoding extends SemanticOutput {
  readonly ids: Uint32Array;
}

interface SemanticInput {
  readonly ids: Uint32Array;
  readonly features: boolean;
}

export interface Timed<T> {
  readonly value: T;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

interface ModelBatchers {
  readonly vq_encoder?: Batcher<Uint8Array, Uint32Array>;
  readonly semantic_encoder?: Batcher<SemanticInput, SemanticOutput>;
  readonly vq_decoder?: Batcher<Uint32Array, Uint8Array>;
  readonly text_encoder?: Batcher<Int32Array, Float32Array>;
}

const VQ_ENCODER = GRAPH_CONTRACT.vq_encoder.outputs;
const SEMANTIC = GRAPH_CONTRACT.semantic_encoder.outputs;
const VQ_DECODER = GRAPH_CONTRACT.vq_decoder.outputs;
const TEXT = GRAPH_CONTRACT.text_encoder.outputs;

function concat<T extends Uint8Array | Uint32Array | Int32Array>(rows: readonly T[], make: (n: number) => T): T {
  const out = make(rows.reduce((n, r) => n + r.length, 0));
  let offset = 0;
  for (const row of rows) {
    out.set(row, offset);
    offset += row.length;
  }
  return out;
}

function split<T extends Float32Array | Uint32Array | Uint8Array>(data: T, rows: number): T[] {
  const per = data.length / rows;
  return Array.from({ length: rows }, (_, i) => data.subarray(i * per, (i + 1) * per) as T);
}

function timed<T>(stage: StageResult<T>): Timed<T[]> {
  return { value: stage.outputs, queueMs: stage.queueMs, inferenceMs: stage.inferenceMs };
}

/** One output of a finished batch, by its contract name. */
function output(result: RunResult, graph: GraphName, name: string): RunResult['outputs'][string] {
  const tensor = result.outputs[name];
  if (tensor === undefined) throw new Error(`${graph}: the worker returned no '${name}' output`);
  return tensor;
}

export class Scheduler {
  readonly registry: ModelRegistry;
  /** The time scale of request deadlines. */
  readonly clock: Clock;
  private readonly executor: BatchExecutor;
  private readonly dispatcher: Dispatcher;
  private readonly batchers = new Map<string, ModelBatchers>();
  private closing = false;

  constructor(config: BatchingConfig, registry: ModelRegistry, executor: BatchExecutor, deps: { log: Logger; metrics?: Metrics; clock?: Clock; tracing?: Tracing }) {
    this.registry = registry;
    this.executor = executor;
    const clock = deps.clock ?? systemClock;
    this.clock = clock;
    this.dispatcher = new Dispatcher({ capacity: executor.size, staging: executor.stagingSlots ?? 0, clock });
    const log = deps.log.child({ component: 'scheduler' });

    for (const model of registry.list()) {
      const make = <I, O>(graph: GraphName, runner: BatchRunner<I, O>): Batcher<I, O> | undefined => {
        if (model.graphPaths[graph] === undefined) return undefined;
        const batcher = new Batcher<I, O>({
          name: `${model.id}/${graph}`,
          maxBatch: config.maxBatch,
          maxDelayMs: config.maxDelayMs,
          queueLimit: config.queueLimit,
          clock,
          runner,
          observer: observer(model.id, graph, log, deps.metrics),
          ...(deps.tracing ? { tracer: deps.tracing.batcher({ model: model.id, graph }) } : {}),
        });
        this.dispatcher.add(batcher);
        return batcher;
      };
      this.batchers.set(model.id, {
        vq_encoder: make('vq_encoder', this.vqEncoderRunner(model)),
        semantic_encoder: make('semantic_encoder', this.semanticRunner(model)),
        vq_decoder: make('vq_decoder', this.decoderRunner(model)),
        text_encoder: make('text_encoder', this.textRunner(model)),
      });
    }
  }

  get provider(): string {
    return this.executor.provider;
  }

  /** Batches that run at once (the workers). */
  get slots(): number {
    return this.executor.size;
  }

  isReady(): boolean {
    return !this.closing && this.executor.isHealthy;
  }

  /** The batchers a request of `model` goes through, in order (for admission). */
  stages(model: ModelBundle, graphs: readonly GraphName[]): StageView[] {
    return graphs.map((graph) => this.batcher(model, graph as keyof ModelBatchers));
  }

  /** Predicted ms until `items` new items, ready in `readyInMs`, have gone through `stages`; undefined at cold start. */
  predictCompletionMs(stages: readonly StageView[], items: number, readyInMs = 0): number | undefined {
    return this.dispatcher.predictCompletionMs(
      stages.map((s) => s.stageCost()),
      items,
      readyInMs,
    );
  }

  /** Images (R x R x 3 uint8 each) -> token ids [N] each. */
  async tokenize(model: ModelBundle, images: readonly Uint8Array[], ctx: WorkContext): Promise<Timed<Uint32Array[]>> {
    return timed(await this.batcher(model, 'vq_encoder').submit(images.map((input) => ({ input, key: 'image' })), ctx));
  }

  /** Token rows (1 <= T <= N ids each) -> embeddings and optionally per-token features. */
  async encodeTokens(model: ModelBundle, rows: readonly Uint32Array[], features: boolean, ctx: WorkContext, continuation = false): Promise<Timed<SemanticOutput[]>> {
    const items = rows.map((ids) => ({ input: { ids, features }, key: `T=${ids.length}` }));
    return timed(await this.batcher(model, 'semantic_encoder').submit(items, ctx, { continuation }));
  }

  /** Images -> ids (vq_encoder) -> embeddings (semantic_encoder), the ids kept. */
  async encodeImages(model: ModelBundle, images: readonly Uint8Array[], features: boolean, ctx: WorkContext): Promise<Timed<ImageEncoding[]>> {
    const ids = await this.tokenize(model, images, ctx);
    const encoded = await this.encodeTokens(model, ids.value, features, ctx, true);
    return {
      value: encoded.value.map((e, i) => ({ ...e, ids: ids.value[i]! })),
      queueMs: ids.queueMs + encoded.queueMs,
      inferenceMs: ids.inferenceMs + encoded.inferenceMs,
    };
  }

  /** Tokenized texts (context_length ids each) -> text embeddings. */
  async encodeTexts(model: ModelBundle, rows: readonly Int32Array[], ctx: WorkContext): Promise<Timed<Float32Array[]>> {
    return timed(await this.batcher(model, 'text_encoder').submit(rows.map((input) => ({ input, key: 'text' })), ctx));
  }

  /** Token rows (N ids each) -> reconstructions as R x R x 3 uint8 (the spec's pixel mapping, done in the worker). */
  async decode(model: ModelBundle, rows: readonly Uint32Array[], ctx: WorkContext): Promise<Timed<Uint8Array[]>> {
    return timed(await this.batcher(model, 'vq_decoder').submit(rows.map((input) => ({ input, key: 'ids' })), ctx));
  }

  /**
   * First step of a graceful shutdown: queued items start as soon as a worker is free instead
   * of waiting for their batch to fill, while requests already running may still add their
   * (later-stage) work.
   */
  beginDrain(): void {
    for (const group of this.batchers.values()) for (const b of Object.values(group)) b?.flush();
    this.dispatcher.pump();
  }

  /** Refuses new work, finishes everything queued or running, then stops the workers. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const reason = new ServiceError('shutting_down', 'the service is shutting down');
    for (const group of this.batchers.values()) for (const b of Object.values(group)) b?.close(reason);
    this.dispatcher.pump();
    await this.dispatcher.idle();
    await this.executor.close();
  }

  private batcher<G extends keyof ModelBatchers>(model: ModelBundle, graph: G): NonNullable<ModelBatchers[G]> {
    const batcher = this.batchers.get(model.id)?.[graph];
    if (batcher === undefined) {
      throw new ServiceError('capability_unavailable', `model ${model.id} has no ${graph} graph`);
    }
    return batcher as NonNullable<ModelBatchers[G]>;
  }

  private vqEncoderRunner(model: ModelBundle): BatchRunner<Uint8Array, Uint32Array> {
    return async (images) => {
      const result = await this.executor.run({
        model: model.id,
        graph: 'vq_encoder',
        batch: images.length,
        input: { kind: 'rgb8', data: concat(images, (n) => new Uint8Array(n)) },
        outputs: [VQ_ENCODER.ids.name],
      });
      return { outputs: split(output(result, 'vq_encoder', VQ_ENCODER.ids.name).data as Uint32Array, images.length), inferenceMs: result.runMs };
    };
  }

  private semanticRunner(model: ModelBundle): BatchRunner<SemanticInput, SemanticOutput> {
    return async (inputs) => {
      const wantFeatures = inputs.some((i) => i.features);
      const result = await this.executor.run({
        model: model.id,
        graph: 'semantic_encoder',
        batch: inputs.length,
        input: { kind: 'ids', data: concat(inputs.map((i) => i.ids), (n) => new Uint32Array(n)), rowLength: inputs[0]!.ids.length },
        outputs: wantFeatures ? [SEMANTIC.embedding.name, SEMANTIC.features.name] : [SEMANTIC.embedding.name],
      });
      const embeddings = split(output(result, 'semantic_encoder', SEMANTIC.embedding.name).data as Float32Array, inputs.length);
      const features = wantFeatures ? split(output(result, 'semantic_encoder', SEMANTIC.features.name).data as Float32Array, inputs.length) : [];
      return {
        outputs: inputs.map((input, i) => ({ embedding: embeddings[i]!, features: input.features ? features[i] : undefined })),
        inferenceMs: result.runMs,
      };
    };
  }

  private decoderRunner(model: ModelBundle): BatchRunner<Uint32Array, Uint8Array> {
    return async (rows) => {
      const result = await this.executor.run({
        model: model.id,
        graph: 'vq_decoder',
        batch: rows.length,
        input: { kind: 'ids', data: concat(rows, (n) => new Uint32Array(n)), rowLength: model.numTokens },
        outputs: [VQ_DECODER.pixels.name],
        pixelsAsRgb8: true,
      });
      return { outputs: split(output(result, 'vq_decoder', VQ_DECODER.pixels.name).data as Uint8Array, rows.length), inferenceMs: result.runMs };
    };
  }

  private textRunner(model: ModelBundle): BatchRunner<Int32Array, Float32Array> {
    return async (rows) => {
      const result = await this.executor.run({
        model: model.id,
        graph: 'text_encoder',
        batch: rows.length,
        input: { kind: 'ids', data: concat(rows, (n) => new Int32Array(n)), rowLength: rows[0]!.length },
        outputs: [TEXT.embedding.name],
      });
      return { outputs: split(output(result, 'text_encoder', TEXT.embedding.name).data as Float32Array, rows.length), inferenceMs: result.runMs };
    };
  }
}

function observer(model: string, graph: GraphName, log: Logger, metrics: Metrics | undefined): BatcherObserver {
  const labels = { model, graph };
  return {
    queueDepth: (depth) => metrics?.queueDepth.set(labels, depth),
    batchStarted: (size, queueTimesMs) => {
      metrics?.batchSize.observe(labels, size);
      for (const ms of queueTimesMs) metrics?.queueTime.observe(labels, ms / 1000);
    },
    batchFinished: (size, inferenceMs, requestIds, error) => {
      if (error === undefined) {
        metrics?.inferenceTime.observe(labels, inferenceMs / 1000);
        log.debug({ model, graph, size, requestIds, inferenceMs: Math.round(inferenceMs * 10) / 10 }, 'batch done');
      } else {
        log.error({ model, graph, size, requestIds, err: error }, 'batch failed');
      }
    },
    timedOut: (items) => metrics?.timedOut.inc(labels, items),
    cancelled: (items) => metrics?.cancelled.inc(labels, items),
  };
}
