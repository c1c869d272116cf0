/** The image layer: untrusted image bytes in, model-ready pixels out, and pixels back to files. */
export type {
  AcceptedImageFormat,
  EncodedImage,
  ImageFormat,
  ImageLimits,
  PreprocessedImage,
  PreprocessSpec,
  ReconstructionFormat,
  SourceImageInfo,
} from './types.js';
export { ACCEPTED_FORMATS, detectAcceptedFormat, sniffImageFormat } from './formats.js';
export { DEFAULT_IMAGE_LIMITS, validateImageLimits } from './limits.js';
export { preprocessImage, validatePreprocessSpec } from './preprocess.js';
export { DEFAULT_QUALITY, encodeRgb, RECONSTRUCTION_MIME } from './encode.js';
export { configureImageRuntime } from './runtime.js';
export { createImagePreprocessor, defaultImageThreads } from './pool.js';
export type { ImagePreprocessor, ImagePreprocessorOptions, PreprocessOptions } from './pool.js';
export type { ImageRuntimeOptions, ImageRuntimeSettings } from './runtime.js';
