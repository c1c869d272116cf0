/**
 * Geometry of the official pipeline (spec section 6): torchvision Resize(R) on the shorter
 * side, then CenterCrop(R). Pure integer/float rules, kept separate so they can be tested
 * against the Python definitions.
 */

/** Python 3 round(): nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface ResizeCropPlan {
  /** Size after the shortest-side resize (before cropping). */
  readonly resizedWidth: number;
  readonly resizedHeight: number;
  /** Crop offsets in the resized image. */
  readonly left: number;
  readonly top: number;
  /** Crop side (R). */
  readonly size: number;
}

/**
 * Shorter side -> R, longer side -> floor(R * long / short) (torchvision's int()), then the
 * centre crop offsets top = round((H' - R) / 2), left = round((W' - R) / 2).
 */
export function planResizeCrop(width: number, height: number, size: number): ResizeCropPlan {
  if (!(width >= 1 && height >= 1 && size >= 1)) {
    throw new RangeError(`invalid geometry ${width}x${height} -> ${size}`);
  }
  let resizedWidth: number;
  let resizedHeight: number;
  if (width <= height) {
    resizedWidth = size;
    resizedHeight = Math.floor((size * height) / width);
  } else {
    resizedHeight = size;
    resizedWidth = Math.floor((size * width) / height);
  }
  return {
    resizedWidth,
    resizedHeight,
    left: roundHalfEven((resizedWidth - size) / 2),
    top: roundHalfEven((resizedHeight - size) / 2),
    size,
  };
}
