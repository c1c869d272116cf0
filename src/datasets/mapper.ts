/**
 * The mapper of a dataset job: image bytes -> token ids (and, when asked, the pooled embedding
 * and per-token features), one image per call. Two implementations: the engine in this process
 * (engine-mapper.ts) and running toklip-serve replicas over HTTP (http-mapper.ts). Both answer
 * the same values for the same image; a bad image rejects with a ServiceError whose code is
 * one of IMAGE_ERROR_CODES, anything else is a failure of the run.
 */

/** What the output records about the model. */
export interface DatasetModel {
  readonly id: string;
  /** sha256 of the bundle's manifest.json (which pins every file's sha256); null when an older server does not say. */
  readonly bundleSha256: string | null;
  readonly imageSize: number;
  readonly grid: readonly [number, number];
  readonly numTokens: number;
  readonly codebookSize: number;
  readonly embeddingDim: number;
  readonly preprocessing: Readonly<Record<string, unknown>>;
  /** Where it ran: 'cpu' / 'cuda' in-process, or the servers' URLs. */
  readonly executionProvider: string;
}

export interface MapOptions {
  readonly embeddings: boolean;
  readonly features: boolean;
}

export interface MappedImage {
  readonly ids: Uint32Array;
  /** Size as displayed (EXIF orientation applied), before any resizing. */
  readonly width: number;
  readonly height: number;
  /** [D], L2-normalised; when asked for. */
  readonly embedding?: Float32Array;
  /** [N * D] row-major, not normalised; when asked for. */
  readonly features?: Float32Array;
}

export interface ImageMapper {
  readonly model: DatasetModel;
  /** Images worth having in flight at once to keep every stage busy. */
  readonly concurrency: number;
  map(bytes: Uint8Array, signal: AbortSignal): Promise<MappedImage>;
  close(): Promise<void>;
}
