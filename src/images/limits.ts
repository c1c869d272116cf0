import type { ImageLimits } from './types.js';

/**
 * Defaults for untrusted input. 50 megapixels admits 48 MP phone photos and 8K frames; a
 * decoded 50 MP RGB image is 150 MB, so together with the number of preprocessing workers it
 * bounds peak memory. Larger images (and decompression bombs, whose headers claim huge sizes)
 * are refused from the header, before any pixel is decoded.
 */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = Object.freeze({
  maxInputPixels: 50_000_000,
  maxInputBytes: 32 * 1024 * 1024,
});

/** Problems with a limits object, empty when valid (for the config loader). */
export function validateImageLimits(limits: ImageLimits): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(limits.maxInputPixels) || limits.maxInputPixels < 1) {
    problems.push(`maxInputPixels must be a positive integer, got ${limits.maxInputPixels}`);
  }
  if (!Number.isSafeInteger(limits.maxInputBytes) || limits.maxInputBytes < 1) {
    problems.push(`maxInputBytes must be a positive integer, got ${limits.maxInputBytes}`);
  }
  return problems;
}
