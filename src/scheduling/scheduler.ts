/**
 * The scheduler: one dynamic batcher per (model, graph), all sharing the worker pool through
 * one Dispatcher. It offers the model operations the HTTP routes need (tokenize, encode
 * tokens / images / texts, decode) and hides batching: a caller hands in its items and gets
 * its outputs in order, plus queue and inference times.
 *
 *   image -> embedding = vq_encoder batcher, then semantic_encoder batcher
 *   tokenize and the first half of encode-image share the vq_encoder batcher.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { ServiceError } from '../errors.js';
import type { RunRequest, RunResult } from '../inference/protocol.js';
import type { Metrics } from '../metrics.js';
import type { GraphName } from '../models/manifest.js';
import type { ModelBundle, ModelRegistry } from '../models/registry.js';
import { Batcher, type BatcherObserver, type BatchRunner, type RequestContext, type StageResult } from './batcher.js';
import { type Clock, systemClock } from './clock.js';
import { Dispatcher } from './dispatcher.js';

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

export interface SemanticOutput {
  /** [D], not normalised. */
  readonly embedding: Float32Array;
  /** [T * D] row-major, when asked for. */
  readonly features: Float32Array | undefined;
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

export class Scheduler {
  readonly registry: ModelRegistry;
  /** The time scale of request deadlines (RequestContext.deadline). */
  readonly clock: Clock;
  private readonly executor: BatchExecutor;
  private readonly dispatcher: Dispatcher;
  private readonly batchers = new Map<string, ModelBatchers>();
  private closing = false;

  constructor(
    config: Pick<Config, 'maxBatch' | 'maxDelayMs' | 'queueLimit'> & Partial<Pick<Config, 'admissionWaitFraction'>>,
    registry: ModelRegistry,
    executor: BatchExecutor,
    deps: { log: Logger; metrics?: Metrics; clock?: Clock },
  ) {
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
          admissionWaitFraction: config.admissionWaitFraction ?? 1,
          clock,
          runner,
          observer: observer(model.id, graph, log, deps.metrics),
          capacityHint: executor.size,
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

  isReady(): boolean {
    return !this.closing && this.executor.isHealthy;
  }

  /** Images (R x R x 3 uint8 each) -> token ids [N] each. */
  async tokenize(model: ModelBundle, images: readonly Uint8Array[], ctx: RequestContext): Promise<Timed<Uint32Array[]>> {
    const batcher = this.batcher(model, 'vq_encoder');
    return timed(await batcher.submit(images.map((input) => ({ input, key: 'image' })), ctx));
  }

  /**
   * Refuses (429, counted) an image request before its images are decoded when its first stage
   * would refuse it, its items reaching it only after `preprocessMs` (the predicted
   * preprocessing); refused work then costs no preprocessing. submit() checks again once the
   * images are ready, with the time that is left then.
   */
  checkImageAdmission(model: ModelBundle, operation: 'tokenize' | 'encode', images: number, ctx: RequestContext, preprocessMs = 0): void {
    const later = operation === 'encode' ? [this.batcher(model, 'semantic_encoder')] : [];
    this.batcher(model, 'vq_encoder').checkAdmission(images, ctx, later, preprocessMs);
  }

  /** Token rows (1 <= T <= N ids each) -> embeddings and optionally per-token features. */
  async encodeTokens(
    model: ModelBundle,
    rows: readonly Uint32Array[],
    features: boolean,
    ctx: RequestContext,
    admitted = false,
  ): Promise<Timed<SemanticOutput[]>> {
    const batcher = this.batcher(model, 'semantic_encoder');
    const items = rows.map((ids) => ({ input: { ids, features }, key: `T=${ids.length}` }));
    return timed(await batcher.submit(items, ctx, { admitted }));
  }

  /**
   * Images -> ids (vq_encoder) -> embeddings (semantic_encoder). Admission happens at the
   * first stage and counts the second stage's batches in the predicted completion.
   */
  async encodeImages(model: ModelBundle, images: readonly Uint8Array[], features: boolean, ctx: RequestContext) {
    const semantic = this.batcher(model, 'semantic_encoder');
    const items = images.map((input) => ({ input, key: 'image' }));
    const ids = timed(await this.batcher(model, 'vq_encoder').submit(items, ctx, { laterStages: [semantic] }));
    const encoded = await this.encodeTokens(model, ids.value, features, ctx, true);
    return { value: encoded.value, queueMs: ids.queueMs + encoded.queueMs, inferenceMs: ids.inferenceMs + encoded.inferenceMs };
  }

  /** Tokenized texts (context_length ids each) -> text embeddings. */
  async encodeTexts(model: ModelBundle, rows: readonly Int32Array[], ctx: RequestContext): Promise<Timed<Float32Array[]>> {
    const batcher = this.batcher(model, 'text_encoder');
    return timed(await batcher.submit(rows.map((input) => ({ input, key: 'text' })), ctx));
  }

  /** Token rows (N ids each) -> reconstructions as R x R x 3 uint8 (the spec's pixel mapping, done in the worker). */
  async decode(model: ModelBundle, rows: readonly Uint32Array[], ctx: RequestContext): Promise<Timed<Uint8Array[]>> {
    const batcher = this.batcher(model, 'vq_decoder');
    return timed(await batcher.submit(rows.map((input) => ({ input, key: 'ids' })), ctx));
  }

  /**
   * First step of a graceful shutdown: queued items start as soon as a worker is free instead
   * of waiting for their batch to fill, while requests already admitted by the HTTP layer may
   * still add their (later-stage) work.
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
      const data = concat(images, (n) => new Uint8Array(n));
      const result = await this.executor.run({
        model: model.id,
        graph: 'vq_encoder',
        batch: images.length,
        input: { kind: 'rgb8', data },
        outputs: ['ids'],
      });
      return { outputs: split(result.outputs.ids!.data as Uint32Array, images.length), inferenceMs: result.runMs };
    };
  }

  private semanticRunner(model: ModelBundle): BatchRunner<SemanticInput, SemanticOutput> {
    return async (inputs) => {
      const wantFeatures = inputs.some((i) => i.features);
      const rowLength = inputs[0]!.ids.length;
      const result = await this.executor.run({
        model: model.id,
        graph: 'semantic_encoder',
        batch: inputs.length,
        input: { kind: 'ids', data: concat(inputs.map((i) => i.ids), (n) => new Uint32Array(n)), rowLength },
        outputs: wantFeatures ? ['embedding', 'features'] : ['embedding'],
      });
      const embeddings = split(result.outputs.embedding!.data as Float32Array, inputs.length);
      const features = wantFeatures ? split(result.outputs.features!.data as Float32Array, inputs.length) : [];
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
        outputs: ['pixels'],
        pixelsAsRgb8: true,
      });
      return { outputs: split(result.outputs.pixels!.data as Uint8Array, rows.length), inferenceMs: result.runMs };
    };
  }

  private textRunner(model: ModelBundle): BatchRunner<Int32Array, Float32Array> {
    return async (rows) => {
      const result = await this.executor.run({
        model: model.id,
        graph: 'text_encoder',
        batch: rows.length,
        input: { kind: 'ids', data: concat(rows, (n) => new Int32Array(n)), rowLength: rows[0]!.length },
        outputs: ['embedding'],
      });
      return { outputs: split(result.outputs.embedding!.data as Float32Array, rows.length), inferenceMs: result.runMs };
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
    rejected: (reason) => metrics?.rejected.inc({ ...labels, reason }),
    timedOut: (items) => metrics?.timedOut.inc(labels, items),
    cancelled: (items) => metrics?.cancelled.inc(labels, items),
  };
}
