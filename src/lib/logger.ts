/**
 * Logging: JSON lines from services, silent by default inside the CLI (which prints its own progress).
 * Nothing outside `cli/` writes to the console directly.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  name: string;
  level?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? 'silent';
  return pino({ name: options.name, level }, pino.destination(2));
}

/** A logger that drops everything: for components created without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
