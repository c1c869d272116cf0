/** The engine layer: operations on plain inputs, admission, request contexts, start-up. */
export { AdmissionController, REFUSAL_REASONS, type RefusalReason } from './admission.js';
export { type OpenContext, type RequestContext, createRequestContext } from './context.js';
export { Engine } from './engine.js';
export type { EncodedImageResult, EncodedText, Result, SimilarityResult, Timings, TokenizedImage } from './results.js';
export { type EngineConfig, type EngineLayout, type EngineStartOptions, startEngine } from './start.js';
export { MAX_TEXT_CHARS } from './texts.js';
