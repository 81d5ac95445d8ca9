/**
 * The one error type of the project. A user-facing message is short and says what to do; `code` is for
 * machines, `details` for logs, `retryable` when the same call may succeed later (the CLI says so).
 */
export interface LilypadErrorOptions {
  code: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
  cause?: unknown;
}

export class LilypadError extends Error {
  override name = 'LilypadError';
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(message: string, options: LilypadErrorOptions) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? false;
  }
}

/** Bad input from a user: shown as one line, without a stack. */
export class UserInputError extends LilypadError {
  override name = 'UserInputError';
}

export class ModuleError extends LilypadError {
  override name = 'ModuleError';
}

export class ExecutorError extends LilypadError {
  override name = 'ExecutorError';
}

export class StorageError extends LilypadError {
  override name = 'StorageError';
}

export class ChainError extends LilypadError {
  override name = 'ChainError';
}

export class SolverError extends LilypadError {
  override name = 'SolverError';
}

export class JobError extends LilypadError {
  override name = 'JobError';
}

/**
 * True for errors whose message is meant for a user as it stands: the CLI shows them as one line. An error
 * with code `internal` is a bug however it was wrapped, and gets its stack.
 */
export function isUserFacing(error: unknown): error is LilypadError {
  return error instanceof LilypadError && !(error.code === 'internal');
}
