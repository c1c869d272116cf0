/**
 * The mapper as a client of running toklip-serve replicas (`--server URL[,URL...]`), for users
 * who already run the service: images go in multipart batches to /v1/tokenize (ids back as
 * base64, bytesPerId), and their ids to /v1/encode (tokens_base64, float32 base64, not
 * normalised: this side normalises exactly as the in-process mapper does) when embeddings or
 * features are asked for. Same values as in-process: the same engine answers.
 *
 * Batches go to the replica with the fewest requests in flight. A bad image in a batch is
 * named by the problem's `position.row`: it is answered alone and the rest is sent again. A
 * refusal for capacity (429, 503) waits Retry-After and tries again; a replica that cannot be
 * reached is retried a few times before the run stops.
 */
import { randomBytes } from 'node:crypto';
import { type ErrorCode, ERROR_TABLE, ServiceError } from '../errors.js';
import { base64ToFloats, idsToBase64, unpackIds } from '../engine/packing.js';
import { l2Normalize } from '../engine/scores.js';
import { bytesPerId } from '../engine/token-rows.js';
import { detectAcceptedFormat } from '../images/formats.js';
import { readImageHeader } from '../images/decode.js';
import type { Agent as HttpAgent } from 'node:http';
import { TRANSIENT_CODES, isImageCode } from './image-errors.js';
import { MAX_TRIES, type PostAnswer, ServerError, isBusy, keepAliveAgent, post, waitOrAbort } from './http-post.js';
import type { DatasetModel, ImageMapper, MapOptions, MappedImage } from './mapper.js';
import { bearer, replicaModelCard } from './server-models.js';

export interface HttpMapperOptions extends MapOptions {
  readonly model?: string | undefined;
  /** Images per request (at most the servers' TOKLIP_MAX_IMAGES_PER_REQUEST). */
  readonly batchSize?: number;
  /** Bytes of images per request (below the servers' TOKLIP_BODY_LIMIT_MB). */
  readonly batchBytes?: number;
  /** Sent as `Authorization: Bearer` when the servers require API keys. */
  readonly apiKey?: string | undefined;
}

interface Problem {
  readonly code?: string;
  readonly detail?: string;
  readonly position?: { readonly row?: number };
}

interface Pending {
  readonly bytes: Uint8Array;
  readonly resolve: (value: MappedImage) => void;
  readonly reject: (error: unknown) => void;
}

/** Connection failures and refusals for capacity: tries of one request before the run stops. */
function knownCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(ERROR_TABLE, code);
}

/** Size as displayed, from the header only (the server accepted the image, so it has one). */
async function displayedSize(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  const info = await readImageHeader(bytes, detectAcceptedFormat(bytes), { maxInputPixels: Number.MAX_SAFE_INTEGER, maxInputBytes: Number.MAX_SAFE_INTEGER });
  return { width: info.orientedWidth, height: info.orientedHeight };
}

/**
 * A multipart/form-data body in one buffer (RFC 7578): option fields, then one file part per
 * image. One copy of the bytes, where FormData and Blobs cost several and a stream per part.
 */
export function multipartBody(fields: Readonly<Record<string, string>>, files: readonly Uint8Array[]): { body: Buffer; contentType: string } {
  const boundary = `toklip-${randomBytes(12).toString('hex')}`;
  const parts: Uint8Array[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  const fileHead = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="images"; filename="image"\r\ncontent-type: application/octet-stream\r\n\r\n`);
  const crlf = Buffer.from('\r\n');
  for (const file of files) parts.push(fileHead, file, crlf);
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

class Replica {
  inFlight = 0;
  readonly agent: HttpAgent;
  constructor(readonly url: string) {
    this.agent = keepAliveAgent(url, 16);
  }
}

type BadRow = { readonly kind: 'bad-row'; readonly row: number; readonly error: ServiceError };
type Split = { readonly kind: 'split' };
type Retry = { readonly kind: 'retry'; readonly reason: string; readonly waitMs: number };
type Outcome = { readonly kind: 'done' } | BadRow | Split | Retry;

export class HttpMapper implements ImageMapper {
  readonly model: DatasetModel;
  readonly concurrency: number;
  private readonly replicas: Replica[];
  private readonly batchSize: number;
  private readonly batchBytes: number;
  private queue: Pending[] = [];
  private scheduled = false;

  private constructor(
    replicas: Replica[],
    model: DatasetModel,
    private readonly options: HttpMapperOptions,
  ) {
    this.replicas = replicas;
    this.model = model;
    this.batchSize = options.batchSize ?? 16;
    this.batchBytes = options.batchBytes ?? 8 << 20;
    this.concurrency = replicas.length * this.batchSize * 4;
  }

  static async create(urls: readonly string[], options: HttpMapperOptions): Promise<HttpMapper> {
    const first = await replicaModelCard(urls, options.model, options.apiKey, options.embeddings || options.features ? ['tokenize', 'encode_tokens'] : ['tokenize']);
    const model: DatasetModel = {
      id: first.id,
      bundleSha256: first.bundle_sha256 ?? null,
      imageSize: first.image_size,
      grid: first.grid,
      numTokens: first.num_tokens,
      codebookSize: first.codebook_size,
      embeddingDim: first.embedding_dim,
      preprocessing: first.preprocessing,
      executionProvider: urls.join(','),
    };
    return new HttpMapper(urls.map((url) => new Replica(url.replace(/\/+$/, ''))), model, options);
  }

  map(bytes: Uint8Array, signal: AbortSignal): Promise<MappedImage> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      this.queue.push({ bytes, resolve, reject });
      if (this.queue.length >= this.batchSize) this.flush(signal);
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush(signal);
        });
      }
    });
  }

  async close(): Promise<void> {
    for (const replica of this.replicas) replica.agent.destroy();
  }

  private flush(signal: AbortSignal): void {
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && batch.length < this.batchSize && (batch.length === 0 || bytes + this.queue[0]!.bytes.length <= this.batchBytes)) {
        const next = this.queue.shift()!;
        bytes += next.bytes.length;
        batch.push(next);
      }
      void this.send(batch, signal);
    }
  }

  private pickReplica(): Replica {
    return this.replicas.reduce((best, r) => (r.inFlight < best.inFlight ? r : best));
  }

  /** Sends a batch until every image of it is answered (values, or its own image error). */
  private async send(batch: Pending[], signal: AbortSignal): Promise<void> {
    let rest = batch;
    try {
      for (let tries = 0; rest.length > 0; ) {
        const replica = this.pickReplica();
        replica.inFlight++;
        let outcome: Outcome;
        try {
          outcome = await this.post(replica, rest, signal);
        } finally {
          replica.inFlight--;
        }
        if (outcome.kind === 'done') return;
        if (outcome.kind === 'bad-row') {
          rest[outcome.row]!.reject(outcome.error);
          rest = rest.filter((_, i) => i !== outcome.row);
          continue;
        }
        if (outcome.kind === 'split') {
          // A refusal for the whole body (e.g. 413): each image alone says which one it was.
          await Promise.all(rest.map((p) => this.send([p], signal)));
          return;
        }
        if (++tries >= MAX_TRIES) throw new ServerError(`${replica.url}: ${outcome.reason} (${tries} tries)`);
        await waitOrAbort(outcome.waitMs, signal);
      }
    } catch (error) {
      for (const p of rest) p.reject(error);
    }
  }

  private async post(replica: Replica, batch: Pending[], signal: AbortSignal): Promise<Outcome> {
    const form = multipartBody({ model: this.model.id, ids_format: 'base64' }, batch.map((p) => p.bytes));
    const headers = { 'content-type': form.contentType, ...bearer(this.options.apiKey) };
    const tokenized = await this.request(replica, '/v1/tokenize', form.body, headers, signal);
    if ('kind' in tokenized) return tokenized;
    if (tokenized.status !== 200) return this.refusal(tokenized, batch.length);
    const ids = (JSON.parse(tokenized.body.toString('utf8')) as { tokens_base64: string[] }).tokens_base64.map((b) => unpackIds(Buffer.from(b, 'base64'), bytesPerId(this.model.codebookSize)));
    let encoded: { embeddings?: string[]; features?: string[] } = {};
    if (this.options.embeddings || this.options.features) {
      const output = this.options.embeddings && this.options.features ? 'both' : this.options.embeddings ? 'embedding' : 'features';
      const body = JSON.stringify({ model: this.model.id, tokens_base64: ids.map((row) => idsToBase64(row, this.model.codebookSize)), output, normalize: false, encoding_format: 'base64' });
      const answer = await this.request(replica, '/v1/encode', Buffer.from(body), { 'content-type': 'application/json', ...bearer(this.options.apiKey) }, signal);
      if ('kind' in answer) return answer;
      if (answer.status !== 200) {
        const refusal = this.refusal(answer, batch.length);
        if (refusal.kind === 'retry') return refusal;
        throw new ServerError(`${replica.url}/v1/encode refused the ids of /v1/tokenize (${answer.status})`);
      }
      encoded = JSON.parse(answer.body.toString('utf8')) as typeof encoded;
    }
    const sizes = await Promise.all(batch.map((p) => displayedSize(p.bytes)));
    batch.forEach((p, i) => {
      p.resolve({
        ids: ids[i]!,
        ...sizes[i]!,
        ...(this.options.embeddings ? { embedding: l2Normalize(base64ToFloats(encoded.embeddings![i]!)) } : {}),
        ...(this.options.features ? { features: base64ToFloats(encoded.features![i]!) } : {}),
      });
    });
    return { kind: 'done' };
  }

  /** A POST, or a retry when the server cannot be reached. */
  private async request(replica: Replica, path: string, body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<PostAnswer | Retry> {
    try {
      return await post(`${replica.url}${path}`, body, headers, replica.agent, signal);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      return { kind: 'retry', reason: `cannot reach the server: ${(error as Error).message}`, waitMs: 1000 };
    }
  }

  private refusal(answer: PostAnswer, batchLength: number): BadRow | Split | Retry {
    let problem: Problem = {};
    try {
      problem = JSON.parse(answer.body.toString('utf8')) as Problem;
    } catch {
      // Not a problem document: judged by its status alone.
    }
    const code = problem.code;
    const detail = problem.detail ?? `HTTP ${answer.status}`;
    if (knownCode(code) && isImageCode(code)) {
      const row = problem.position?.row;
      if (row !== undefined && row >= 0 && row < batchLength) return { kind: 'bad-row', row, error: new ServiceError(code, detail) };
      if (batchLength > 1) return { kind: 'split' };
      return { kind: 'bad-row', row: 0, error: new ServiceError(code, detail) };
    }
    if ((knownCode(code) && TRANSIENT_CODES.has(code)) || isBusy(answer.status)) {
      return { kind: 'retry', reason: `${answer.status} ${code ?? ''}: ${detail}`, waitMs: (answer.retryAfterSeconds ?? 1) * 1000 };
    }
    throw new ServerError(`the server answered ${answer.status} ${code ?? ''}: ${detail}`);
  }
}
