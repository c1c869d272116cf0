/**
 * The request examples of the OpenAPI document (Swagger UI's "Try it out" sends them as they
 * are). The committed document carries them for the shipped model (models/toklip-scenes-128);
 * a running server rewrites the model-specific values (a decode row of exactly N ids inside
 * the codebook, a model id in a path) for the default model it serves (servedExamples), so every
 * example runs against what is actually served. Request examples name no model: the default
 * model answers them.
 */
import type { ModelBundle } from '../../models/registry.js';

/** A 64 x 64 PNG of a red disc on white: a valid image whose similarity to the example captions reads as expected. */
export const EXAMPLE_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAEAAAABABAMAAABYR2ztAAAAMFBMVEX////gEBDiGxvpVVXmOTnvg4P1r6/73t72vb3+9fXrYWH2urrtcnL3vr7oSEj//f0I225yAAAACXBIWXMAAAsTAAALEwEAmpwYAAAA7klEQVRIx2NgGAU0AJxbTRSFnKMn4JL/vUgQDLT6scuzOQpCgUgCNnl2Q0E4EC7AoiBJEAmoYcp/FUQB8ejy/AdRFch8QFPAKogGAtAUJKIrEEPzgiK6AiFUjzALYgAD/Dag2cHviKlABNkf3IJYQAOSAi5sChYgKZiETYEmkoKN2BRIICkIxKZAFEmBITYFwkgKHLEpEEFSoIhNgRB9FRB0JEFvEgworEEtS0pkEYxuDkIJhmCSw5ZopUlL9gQzDsGsRzjzYmR/jAKEFb8BRBRBhAsx5GJwA/aC8geBghRYFLeaKCk5x04YrZRoAQC4T08PzykZSgAAAABJRU5ErkJggg==';
export const EXAMPLE_IMAGE = `data:image/png;base64,${EXAMPLE_PNG}`;

/** Captions in the shipped model's vocabulary; other word-level models report the words they lack. */
export const EXAMPLE_TEXTS = ['a red circle', 'a blue square'];

/** A raster-order prefix of token ids, valid for any codebook of 64 or more entries. */
export const EXAMPLE_TOKEN_PREFIX = [5, 17, 42, 3, 8, 1];

/** The values of the examples that depend on the model. */
export interface ModelExamples {
  readonly model: string;
  /** One row of exactly N ids inside the codebook. */
  readonly decodeRow: readonly number[];
}

/** N ids spread over the codebook (deterministic). */
function spreadIds(numTokens: number, codebookSize: number): number[] {
  return Array.from({ length: numTokens }, (_, i) => (i * 7919) % codebookSize);
}

export function modelExamples(model: Pick<ModelBundle, 'id' | 'numTokens' | 'codebookSize'>): ModelExamples {
  return { model: model.id, decodeRow: spreadIds(model.numTokens, model.codebookSize) };
}

/** The shipped model's examples, which the committed document carries. */
export const SHIPPED_EXAMPLES = modelExamples({ id: 'toklip-scenes-128', numTokens: 64, codebookSize: 1024 });

function sameArray(a: unknown, b: readonly number[]): boolean {
  return Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A copy of the document whose examples carry `to` where they carried `from`. */
export function rebindExamples<T>(document: T, from: ModelExamples, to: ModelExamples): T {
  const walk = (value: unknown, inExample: boolean): unknown => {
    if (inExample && value === from.model) return to.model;
    if (inExample && sameArray(value, from.decodeRow)) return [...to.decodeRow];
    if (Array.isArray(value)) return value.map((v) => walk(v, inExample));
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, inExample || k === 'examples' || k === 'example')]));
  };
  return walk(document, false) as T;
}
