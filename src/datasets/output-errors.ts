/**
 * Failures of the output folder (not of an image): they stop the run with a message that says
 * what could not be written, why, and what to do. No shard is ever left under its final name
 * half-written (parquet-shard.ts writes to a temporary name first).
 */

const ADVICE: Readonly<Record<string, string>> = {
  EACCES: 'permission denied: the output folder must be writable by this user',
  EPERM: 'operation not permitted: the output folder must be writable by this user',
  EROFS: 'the file system is read-only: choose an --out folder on a writable volume',
  ENOSPC: 'no space left on the device (the shard being written was removed; complete shards are kept): free space, or choose another --out, and run the same command again to resume',
  EDQUOT: 'disk quota exceeded (the shard being written was removed; complete shards are kept): free space and run the same command again to resume',
  ENOTDIR: 'a path component is a file, not a folder',
};

export class OutputError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'OutputError';
  }

  /** `action` names what failed, e.g. "create out/.shard-00003.parquet....tmp". */
  static from(error: unknown, action: string): OutputError {
    if (error instanceof OutputError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code !== undefined && ADVICE[code] !== undefined ? `${ADVICE[code]} (${code})` : (error as Error).message;
    return new OutputError(`cannot ${action}: ${reason}`, code);
  }
}
