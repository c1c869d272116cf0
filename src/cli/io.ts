/** What a command reads and writes besides files: streams, environment, and its exit codes. */

export interface CliStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

export interface CliIO {
  readonly stdout: CliStream;
  readonly stderr: CliStream;
  readonly env: NodeJS.ProcessEnv;
  /** The job's stop signal (SIGINT / SIGTERM), set by the bin. */
  readonly signal: AbortSignal;
}

export const EXIT = {
  ok: 0,
  /** The run stopped: engine, server, input or output failure. */
  failed: 1,
  /** Bad command line or settings. */
  usage: 2,
  /** Finished, with more bad images than --max-errors allows (they are in the errors file). */
  badImages: 3,
  /** Stopped by SIGINT / SIGTERM; the same command resumes. */
  interrupted: 130,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
