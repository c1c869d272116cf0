/**
 * The official preprocessing (spec section 6) for one image, bit-exact with
 * torchvision Resize(R, BICUBIC) + CenterCrop(R) on a Pillow image, plus the service's
 * deliberate additions: EXIF orientation applied, alpha composited on white,
 * grey/palette/16-bit/CMYK expanded to 8-bit sRGB RGB.
 *
 * Order: sniff the container -> read the header (pixel limit) -> plan the resize and crop ->
 * decode only the input region the crop depends on -> resample that region.
 */
import { ServiceError } from '../errors.js';
import { decodeRegion, readImageHeader } from './decode.js';
import { detectAcceptedFormat } from './formats.js';
import { planResizeCrop } from './geometry.js';
import { DEFAULT_IMAGE_LIMITS } from './limits.js';
import { bicubicAxis, resampleRgb } from './resample.js';
import type { ImageLimits, PreprocessedImage, PreprocessSpec } from './types.js';

/** Largest model input side accepted in a spec (guards against a corrupt manifest). */
const MAX_SPEC_SIZE = 4096;

/** Problems with a spec, empty when this module can run it (for the model registry). */
export function validatePreprocessSpec(spec: PreprocessSpec): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(spec.size) || spec.size < 1 || spec.size > MAX_SPEC_SIZE) {
    problems.push(`image size must be an integer in 1..${MAX_SPEC_SIZE}, got ${spec.size}`);
  }
  if (spec.resize !== 'shortest') problems.push(`resize '${spec.resize}' is not supported (only 'shortest')`);
  if (spec.interpolation !== 'bicubic') {
    problems.push(`interpolation '${spec.interpolation}' is not supported (only 'bicubic')`);
  }
  if (spec.crop !== 'center') problems.push(`crop '${spec.crop}' is not supported (only 'center')`);
  return problems;
}

export async function preprocessImage(
  bytes: Uint8Array,
  spec: PreprocessSpec,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
): Promise<PreprocessedImage> {
  const problems = validatePreprocessSpec(spec);
  if (problems.length > 0) throw new Error(`unsupported preprocessing spec: ${problems.join('; ')}`);
  if (bytes.length > limits.maxInputBytes) {
    throw new ServiceError(
      'payload_too_large',
      `The image is ${bytes.length} bytes; the limit is ${limits.maxInputBytes} bytes per image.`,
      { extensions: { bytes: bytes.length, limit: limits.maxInputBytes } },
    );
  }
  const format = detectAcceptedFormat(bytes);
  const source = await readImageHeader(bytes, format, limits);
  const plan = planResizeCrop(source.orientedWidth, source.orientedHeight, spec.size);
  const x = bicubicAxis(source.orientedWidth, plan.resizedWidth, plan.left, spec.size);
  const y = bicubicAxis(source.orientedHeight, plan.resizedHeight, plan.top, spec.size);
  const region = { left: x.start, top: y.start, width: x.end - x.start, height: y.end - y.start };
  const pixels = await decodeRegion(bytes, format, region, limits);
  const rgb = resampleRgb(pixels, region.width, x, y);
  return { rgb, size: spec.size, source };
}
