import type { ErrorCode } from '../../src/errors.js';

/** The answer a corpus request must get: the status and, for errors, the code and a detail pattern. */
export interface Expect {
  readonly status: number;
  readonly code?: ErrorCode;
  readonly detail?: RegExp;
}

export type InferenceRoute = '/v1/tokenize' | '/v1/encode' | '/v1/decode' | '/v1/similarity';

/** One HTTP request of the corpus and its expected answer. */
export interface CorpusCase {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  /** Path with query string. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
  readonly expect: Expect;
}
