/**
 * Which failures belong to one image (recorded in the errors file, the run goes on) and which
 * stop the run. An image is bad when the service would refuse it for what it is: it does not
 * decode, its format is refused, or it exceeds a limit. A dataset input can also fail before
 * any decoder sees it: the file cannot be read, or the archive holding it is broken.
 */
import { type ErrorCode, isServiceError } from '../errors.js';

/** Error codes of the service that describe the image itself. */
export const IMAGE_ERROR_CODES = ['invalid_image', 'unsupported_image_format', 'image_too_large', 'payload_too_large'] as const satisfies readonly ErrorCode[];

/** Error codes of the dataset readers: the input could not be read as far as an image. */
export const INPUT_ERROR_CODES = ['unreadable_file', 'invalid_archive'] as const;

export type BadImageCode = (typeof IMAGE_ERROR_CODES)[number] | (typeof INPUT_ERROR_CODES)[number];

/** A bad image: its code and a one-line detail. */
export interface ImageFailure {
  readonly code: BadImageCode;
  readonly detail: string;
}

/** Service failures worth another try: capacity and worker restarts, not the image. */
export const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set(['queue_full', 'overloaded', 'not_ready', 'worker_crashed', 'rate_limited']);

export function isImageCode(code: string): code is (typeof IMAGE_ERROR_CODES)[number] {
  return (IMAGE_ERROR_CODES as readonly string[]).includes(code);
}

/** The engine names the image of a request (`images[0]: ...`); a dataset row names its own key. */
export function imageDetail(message: string): string {
  return message.replace(/^images\[\d+\]: /, '');
}

/** The ImageFailure a service error stands for, or undefined when it is not about the image. */
export function imageFailure(error: unknown): ImageFailure | undefined {
  if (!isServiceError(error) || !isImageCode(error.code)) return undefined;
  return { code: error.code, detail: imageDetail(error.message) };
}
