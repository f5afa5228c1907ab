import pino from 'pino';
import pretty from 'pino-pretty';
import { redactingLogOptions } from './redactSecrets';

/**
 * The logging surface the library code needs: structured first argument, message second (pino's convention).
 * A pino logger satisfies it; tests pass `silentLogger`.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type LogFormat = 'pretty' | 'json';

/**
 * The agent's logger: human-readable lines on a terminal ('pretty'), one JSON object per line for log collectors
 * ('json'). Pretty printing runs in-process and synchronously so the last lines before an exit are never lost.
 * Every line passes through redactSecrets: no credential reaches a log.
 */
export function createLogger(level: string, format: LogFormat): pino.Logger {
  if (format === 'json') return pino({ name: 'dino-stream', level, ...redactingLogOptions });
  return pino(
    { name: 'dino-stream', level, ...redactingLogOptions },
    pretty({ sync: true, colorize: process.stdout.isTTY, ignore: 'pid,hostname,name', translateTime: 'HH:MM:ss' }),
  );
}

let shared: Logger | undefined;

/**
 * For code used as a library and not handed a logger: one JSON logger at the level of DINO_LOG_LEVEL (the variable
 * the agent's configuration reads), default info.
 */
export function defaultLogger(): Logger {
  shared ??= createLogger(process.env.DINO_LOG_LEVEL ?? 'info', 'json');
  return shared;
}

/** Discards everything: for tests and benchmarks that assert on state rather than on logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
