/**
 * Stream-id churn against the real agent: clients that each connect to /ingest/<new id>, send one frame and close,
 * beside one real stream. Shared by the churn test (what stays bounded) and `npm run soak:churn` (whether the
 * embedding rounds of the configured stream slow down as ids accumulate).
 */
import { Worker } from 'node:worker_threads';
import type { Summary, Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { configSchema, type AgentConfig } from '../config/schema';
import { encodeRawRgb } from '../streams/sources/IngestDecoder';

/** The churn agent: worker trainer, micro model, open ingest capped at `maxStreams`, one declared ws stream `real`. */
export function churnAgentConfig(o: { dir: string; size: number; maxStreams: number; buffer: number; churners: number }): AgentConfig {
  return configSchema.parse({
    model: { size: 'micro' },
    train: { batchSize: 8, bufferSize: o.buffer, frameSize: o.size, bufferPolicy: 'fifo' },
    sources: [{ kind: 'ws', id: 'real', fps: 10 }],
    embed: { fps: 10, thumbnailFps: 2, attentionEverySec: 0 },
    // small detector memories: full before the measurement starts, so what grows after is what churn left
    detect: { noveltyBank: 64, driftWindow: 20, driftRecentWindow: 10 },
    server: { port: 0, openIngest: true, maxStreams: o.maxStreams, maxIngestConnections: o.churners + 4 },
    checkpoint: { dir: o.dir, everySec: 3600 },
    log: { level: 'silent', statusEverySec: 0 },
  });
}

/** A raw RGB frame of `size` px whose content depends on `seed`. */
export function churnFrame(size: number, seed: number): Buffer {
  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * ((seed % 7) + 1) + seed * 31) & 255;
  return encodeRawRgb(size, size, rgb);
}

/**
 * The churning clients, in a worker thread: their own event loop, so the rounds measured in the agent are not
 * slowed by the clients' JavaScript (only by what the agent does for them). Paced at `perSec` cycles a second (a
 * fixed load, so that rounds compare); stops after `target` cycles or `ms`.
 */
const CHURN_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { WebSocket } = require('ws');
const { base, workers, until, target, perSec, frame, prefix } = workerData;
const buf = Buffer.from(frame);
let cycles = 0, refused = 0;
const once = (id) => new Promise((resolve) => {
  const ws = new WebSocket(base + '/ingest/' + id);
  ws.once('open', () => { ws.send(buf); setTimeout(() => ws.close(), 5); });
  ws.once('unexpected-response', () => { refused++; resolve(); });
  ws.once('error', () => resolve());
  ws.once('close', () => resolve());
});
const period = (workers * 1000) / perSec; // each worker's share of the pace
const run = async (w) => {
  const t0 = Date.now();
  for (let i = 1; Date.now() < until && cycles < target; i++) {
    await once(prefix + w + '-' + cycles++);
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + i * period - Date.now())));
  }
};
Promise.all(Array.from({ length: workers }, (_, w) => run(w))).then(() => parentPort.postMessage({ cycles, refused }));
`;

/** Runs `workers` churning clients with ids `churn-<w>-<n>`; resolves with the cycles done and how many were refused (503). */
export function churn(o: { base: string; target: number; perSec: number; ms: number; workers: number; frame: Buffer }): Promise<{ cycles: number; refused: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(CHURN_WORKER, { eval: true, workerData: { base: o.base, workers: o.workers, until: Date.now() + o.ms, target: o.target, perSec: o.perSec, frame: o.frame, prefix: 'churn-' } });
    w.once('message', (m: { cycles: number; refused: number }) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
}

/** Quantiles of the configured streams' embedding rounds (ms) since the summary was last reset; reset() starts a phase. */
export function roundTimes(registry: Registry): { p99: () => Promise<number>; p50: () => Promise<number>; reset: () => void } {
  const rounds = registry.getSingleMetric('dino_embedding_round_ms') as Summary;
  // the configured stream's rounds (client-opened streams are embedded in rounds of their own)
  const q = async (quantile: number) => (await rounds.get()).values.find((v) => v.labels['quantile'] === quantile && v.labels['streams'] === 'configured')?.value ?? NaN;
  return { p99: () => q(0.99), p50: () => q(0.5), reset: () => rounds.reset() };
}

/** Opens a websocket; rejects when the upgrade is refused. */
export function openSocket(url: string): Promise<WebSocket> {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, r) => reject(new Error(`upgrade refused: ${r.statusCode}`)));
  });
}
