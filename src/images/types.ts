/** Public types of the image layer (decode, preprocess, encode). */

/** Containers the magic-byte sniffer can name, accepted or not. */
export type ImageFormat =
  | 'png'
  | 'jpeg'
  | 'webp'
  | 'gif'
  | 'tiff'
  | 'avif'
  | 'heic'
  | 'heif'
  | 'svg'
  | 'xml'
  | 'bmp'
  | 'ico'
  | 'pdf'
  | 'jxl'
  | 'jp2'
  | 'psd'
  | 'pnm';

/** Formats preprocessImage decodes. */
export type AcceptedImageFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff' | 'avif';

/**
 * What the model expects, from the bundle manifest: `image_size` plus the `preprocessing`
 * block. Only the official pipeline (shortest side, bicubic, centre crop) exists.
 */
export interface PreprocessSpec {
  /** R: the square side fed to the model (256 for S, 384 for L). */
  readonly size: number;
  readonly resize: 'shortest';
  readonly interpolation: 'bicubic';
  readonly crop: 'center';
}

/** Bounds on untrusted input, checked before any pixel is decoded. */
export interface ImageLimits {
  /** Largest accepted width x height of the (first frame of the) input. */
  readonly maxInputPixels: number;
  /** Largest accepted encoded size of one image, in bytes. */
  readonly maxInputBytes: number;
}

/** What was read from the input before preprocessing (for logs and responses). */
export interface SourceImageInfo {
  readonly format: AcceptedImageFormat;
  /** Stored size, before EXIF orientation. */
  readonly width: number;
  readonly height: number;
  /** EXIF orientation tag (1..8); 1 when absent. Applied before resizing. */
  readonly orientation: number;
  /** Size after orientation: the frame the pipeline resized. */
  readonly orientedWidth: number;
  readonly orientedHeight: number;
  /** Frames in the file (animated GIF/WebP, multi-page TIFF); only the first is used. */
  readonly pages: number;
  readonly hasAlpha: boolean;
  /** libvips interpretation of the decoded data, e.g. 'srgb', 'b-w', 'cmyk', 'rgb16'. */
  readonly space: string;
  /** Sample depth, e.g. 'uchar' or 'ushort'. */
  readonly depth: string;
}

/** A preprocessed image: R x R RGB uint8 in HWC order, ready for the inference worker's normalizeInto. */
export interface PreprocessedImage {
  readonly rgb: Uint8Array;
  readonly size: number;
  readonly source: SourceImageInfo;
}

export type ReconstructionFormat = 'png' | 'jpeg' | 'webp';

export interface EncodedImage {
  readonly mime: string;
  readonly data: Buffer;
}
