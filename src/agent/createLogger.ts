import pino from 'pino';
import pretty from 'pino-pretty';
import { redactingLogOptions } from '../util/redactSecrets';

/**
 * The agent's logger: human-readable lines on a terminal (format 'pretty'), one JSON object per line for log
 * collectors ('json'). Pretty printing runs in-process and synchronously so the last lines before an exit are
 * never lost.
 */
export function createLogger(level: string, format: 'pretty' | 'json'): pino.Logger {
  if (format === 'json') return pino({ name: 'dino-stream', level, ...redactingLogOptions });
  return pino(
    { name: 'dino-stream', level, ...redactingLogOptions },
    pretty({ sync: true, colorize: process.stdout.isTTY, ignore: 'pid,hostname,name', translateTime: 'HH:MM:ss' }),
  );
}
