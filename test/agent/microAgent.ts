import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { configSchema } from '../../config/schema';
import { Agent, type AgentDeps } from '../../src/agent/Agent';

/** Settings merged over the micro agent's, one section deep. */
export type ConfigOverrides = Record<string, Record<string, unknown>>;

/**
 * The real agent in this process: the micro model on the cpu backend, one synthetic camera, the server on a free
 * port, checkpoints in a temp dir (or `overrides.checkpoint.dir`), its log lines collected. Needs dist/ (the
 * trainer worker runs compiled JS; npm test builds it).
 */
export function microAgent(overrides: ConfigOverrides = {}, deps: AgentDeps = {}) {
  const lines: { level: number; msg: string; err?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const base: ConfigOverrides = {
    model: { size: 'micro' },
    train: { batchSize: 4, bufferSize: 64, frameSize: 16, updatesPerFrame: 1 },
    backend: { name: 'cpu' },
    server: { port: 0 },
    checkpoint: { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'dino-agent-')), everySec: 3600 },
    log: { statusEverySec: 0 },
    embed: { fps: 2, thumbnailFps: 0 },
  };
  const merged: Record<string, unknown> = { sources: [{ kind: 'synthetic', id: 'cam', fps: 20 }] };
  for (const k of new Set([...Object.keys(base), ...Object.keys(overrides)])) merged[k] = { ...base[k], ...overrides[k] };
  const config = configSchema.parse(merged);
  return { agent: new Agent(config, log, deps), dir: config.checkpoint.dir, lines, msgs: () => lines.map((l) => l.msg) };
}
