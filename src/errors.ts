/** Thrown only during start-up; main prints the message (no stack) and exits 1. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** I/O failure on the data path, classified once where it is understood. */
export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  constructor(
    message: string,
    readonly code: string,
    readonly retriable: boolean,
    readonly stage: 'source' | 'parse' | 'correlate' | 'sink' | 'api',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bad CLI usage: printed with usage help, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
