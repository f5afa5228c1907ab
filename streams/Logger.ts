import pino from 'pino';
import { redactingLogOptions } from '../src/util/redactSecrets';

/**
 * The logging surface the streams code needs. A pino logger satisfies it; tests can pass a silent one.
 * Structured first argument, message second (pino's convention).
 */
export interface StreamLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

let shared: StreamLogger | undefined;

/** One pino instance for all streams code that was not handed a logger (level from LOG_LEVEL, default info). */
export function defaultLogger(): StreamLogger {
  shared ??= pino({ name: 'streams', level: process.env.LOG_LEVEL ?? 'info', ...redactingLogOptions });
  return shared;
}

/** Discards everything: for tests and benchmarks that assert on state$ rather than on logs. */
export const silentLogger: StreamLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
