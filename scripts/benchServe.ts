/**
 * Publishing-path benchmark: latency from the moment the hub emits an embedding (stamped with a high-resolution
 * wall-clock time in `t`) to the moment a websocket subscriber has it decoded, through AgentServer on 127.0.0.1.
 *   npm run build && npm run bench:serve [-- --seconds 20 --streams 4 --fps 10 --subscribers 20 --dim 192]
 * Subscribers run in a worker thread (their decoding does not share the server's event loop), half JSON, half
 * binary, each subscribed to all streams. Both threads read the same clock (performance.timeOrigin + now()).
 * Prints p50/p99/max latency per format, messages/s delivered, drops, and the server's RSS over the run.
 *
 * With --teacher <model size> the producer is the agent's own pipeline instead (src/agent/agentPipeline.ts, no
 * training): synthetic cameras -> fair mix -> embedding rounds (the teacher copy embeds each stream's newest frame
 * every 1/fps s) -> detectors -> hub, with `t` stamped at frame arrival, so the latency includes the mix, the wait
 * for the next embedding round and the teacher's inference.
 */
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { EMPTY, map, Subject } from 'rxjs';
import { WebSocket } from 'ws';
import type { AgentEvent, AgentHub, AttentionMessage, EmbeddingMessage, StatsMessage, ThumbnailMessage } from '../src/types/messages';
import { AgentServer } from '../src/serve/AgentServer';
import { decodeBinary } from '../src/protocol/EmbeddingCodec';
import { silentLogger } from '../src/util/Logger';
import { Registry } from 'prom-client';
import { selectBackend } from '../src/backend';
import { modelSize } from '../src/model/modelSizes';
import { EmbeddingService } from '../src/agent/EmbeddingService';
import { agentPipeline, createSinks } from '../src/agent/agentPipeline';
import { fixedSources } from '../src/agent/buildSources';
import { StreamRates } from '../src/agent/StreamRates';
import { StreamDetectors } from '../src/agent/StreamDetectors';
import { AgentMetrics } from '../src/agent/AgentMetrics';
import { configSchema } from '../config/schema';
import { SyntheticCamera } from '../streams/sources/SyntheticCamera';
import { VisionTransformer } from '../src/model/VisionTransformer';

const now = () => performance.timeOrigin + performance.now();

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
}

interface WorkerInput {
  port: number;
  subscribers: number;
}

interface FormatResult {
  format: 'json' | 'binary';
  subscribers: number;
  delivered: number;
  missed: number;
  latencies: Float64Array;
}

/** Worker side: N subscribers, recording latency per delivered message. */
async function runSubscribers({ port, subscribers }: WorkerInput): Promise<void> {
  const lat: Record<'json' | 'binary', number[]> = { json: [], binary: [] };
  const missed = { json: 0, binary: 0 };
  const sockets: WebSocket[] = [];
  let recording = false;
  await Promise.all(
    Array.from({ length: subscribers }, (_, i) => {
      const format = i % 2 === 0 ? 'json' : 'binary';
      const ws = new WebSocket(`ws://127.0.0.1:${port}/embeddings?streams=*&format=${format}`);
      sockets.push(ws);
      ws.on('message', (d: Buffer, isBinary: boolean) => {
        if (isBinary) {
          const m = decodeBinary(d);
          if (recording) lat.binary.push(now() - m.t);
          return;
        }
        const m = JSON.parse(d.toString('utf8'));
        if (m.type === 'embedding') {
          if (recording) lat.json.push(now() - m.t);
        } else if (m.type === 'dropped') missed[format] += m.count;
      });
      return new Promise((r) => ws.once('open', r));
    }),
  );
  parentPort!.on('message', (msg: string) => {
    if (msg === 'record') recording = true;
    if (msg === 'report') {
      const out: FormatResult[] = (['json', 'binary'] as const).map((f) => ({
        format: f,
        subscribers: Math.ceil(subscribers / 2) - (f === 'binary' ? subscribers % 2 : 0),
        delivered: lat[f].length,
        missed: missed[f],
        latencies: Float64Array.from(lat[f]),
      }));
      for (const ws of sockets) ws.terminate();
      parentPort!.postMessage(out);
    }
  });
  parentPort!.postMessage('ready');
}

/** A hub made of Subjects: the benchmark is the only producer. */
function createHub(): AgentHub & { embeddings: Subject<EmbeddingMessage> } {
  const embeddings = new Subject<EmbeddingMessage>();
  return {
    embeddings,
    embeddings$: embeddings.asObservable(),
    events$: new Subject<AgentEvent>().asObservable(),
    stats$: new Subject<StatsMessage>().asObservable(),
    thumbnails$: new Subject<ThumbnailMessage>().asObservable(),
    attention$: new Subject<AttentionMessage>().asObservable(),
  };
}

/** Emits `streams` streams at `fps` each (staggered), stamping t at emission. Returns a stop function and a counter. */
function emitFrames(hub: { embeddings: Subject<EmbeddingMessage> }, streams: number, fps: number, dim: number): { stop(): void; emitted(): number } {
  let emitted = 0;
  const timers: NodeJS.Timeout[] = [];
  const starts: NodeJS.Timeout[] = [];
  for (let s = 0; s < streams; s++) {
    let frameIndex = 0;
    const streamId = `cam${s + 1}`;
    starts.push(
      setTimeout(() => {
        timers.push(
          setInterval(() => {
            const v = new Float32Array(dim);
            for (let j = 0; j < dim; j++) v[j] = Math.random() - 0.5;
            const n = Math.hypot(...v);
            for (let j = 0; j < dim; j++) v[j]! /= n;
            hub.embeddings.next({ streamId, t: now(), frameIndex: frameIndex++, teacherStep: 1000, dim, embedding: v, novelty: Math.random() });
            emitted++;
          }, 1000 / fps),
        );
      }, (s * 1000) / fps / streams),
    );
  }
  return {
    stop: () => [...starts, ...timers].forEach((t) => clearTimeout(t)),
    emitted: () => emitted,
  };
}

/** The agent's path: cameras -> the agent's pipeline (fair mix, embedding rounds, detectors) -> hub.embeddings. */
async function emitThroughTeacher(hub: { embeddings: Subject<EmbeddingMessage> }, streams: number, fps: number, size: string): Promise<{ stop(): void; emitted(): number }> {
  await selectBackend({ backend: 'wasm', log: () => undefined });
  const model = modelSize(size);
  const teacher = new EmbeddingService(model);
  const init = new VisionTransformer(model.vit, 0);
  teacher.load({ step: 1, params: init.namedParameters().map(([name, v]) => ({ name, shape: v.shape, values: v.dataSync() as Float32Array })) });
  init.dispose();
  const cfg = configSchema.parse({
    sources: Array.from({ length: streams }, (_, s) => ({ kind: 'synthetic', id: `cam${s + 1}`, fps, seed: s + 1 })),
    embed: { fps, attentionEverySec: 0, thumbnailFps: 0 },
  });
  const paced = cfg.sources.map((c) => {
    if (c.kind !== 'synthetic') throw new Error('unreachable');
    const cam = new SyntheticCamera({ streamId: c.id!, width: cfg.train.frameSize, height: cfg.train.frameSize, fps, seed: c.seed });
    return { id: c.id!, kind: c.kind, frames$: cam.frames$.pipe(map((f) => ({ ...f, t: now() }))) };
  });
  const sinks = { ...createSinks(), embeddings: hub.embeddings };
  const pipeline = agentPipeline({
    config: cfg,
    sources: fixedSources(paced, fps),
    pushed$: EMPTY,
    events: null,
    trainer: null,
    teacher,
    detectors: new StreamDetectors(cfg.detect),
    probe: null,
    sinks,
    metrics: new AgentMetrics(new Registry()),
    rates: new StreamRates(),
    log: silentLogger,
  }).subscribe();
  let emitted = 0;
  const counter = hub.embeddings.subscribe(() => emitted++);
  return {
    stop: () => {
      pipeline.unsubscribe();
      counter.unsubscribe();
    },
    emitted: () => emitted,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const mb = (b: number) => (b / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const seconds = arg('seconds', 20);
  const streams = arg('streams', 4);
  const fps = arg('fps', 10);
  const subscribers = arg('subscribers', 20);
  const teacherIdx = process.argv.indexOf('--teacher');
  const teacher = teacherIdx >= 0 ? process.argv[teacherIdx + 1] : undefined;
  const dim = teacher ? modelSize(teacher).vit.embedDim : arg('dim', 192);
  const produce = () => (teacher ? emitThroughTeacher(hub, streams, fps, teacher) : Promise.resolve(emitFrames(hub, streams, fps, dim)));
  const hub = createHub();
  const server = new AgentServer({ hub, host: '127.0.0.1', port: 0, log: silentLogger, env: {}, limits: { pingIntervalMs: 5000 } });
  const { port } = await server.start();
  const worker = new Worker(__filename, { workerData: { port, subscribers } satisfies WorkerInput, execArgv: process.execArgv.filter((a) => a !== '--expose-gc') });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });

  // Warm-up (JIT, socket buffers), then the measured run.
  const warm = await produce();
  await new Promise((r) => setTimeout(r, 1000));
  warm.stop();
  await new Promise((r) => setTimeout(r, 200));
  worker.postMessage('record');
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 250);
  const run = await produce();
  const t0 = performance.now();
  const quarters: number[] = []; // RSS after each quarter of the run: flat once the heap has sized itself
  const heaps: number[] = []; // with node --expose-gc: live heap after a full GC, the sharper leak check
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  for (let q = 0; q < 4; q++) {
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 4));
    quarters.push(process.memoryUsage().rss);
    if (gc) {
      gc();
      heaps.push(process.memoryUsage().heapUsed);
    }
  }
  run.stop();
  const elapsed = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 500)); // let the last messages arrive (and the worker's counts settle)
  clearInterval(rssTimer);
  const rss1 = process.memoryUsage().rss;
  const results = await new Promise<FormatResult[]>((resolve) => {
    worker.once('message', resolve);
    worker.postMessage('report');
  });
  const metrics = await server.registry.getMetricsAsJSON();
  const value = (name: string) => metrics.find((m) => m.name === name)?.values.find((v) => v.labels.path === '/embeddings')?.value ?? 0;
  await worker.terminate();
  await server.stop(100);

  const emitted = run.emitted();
  const path = teacher ? `frame arrival -> teacher (${teacher} model, embedding round every 1/fps s) -> detectors -> ws` : 'hub -> ws';
  console.log(`AgentServer on 127.0.0.1 (${path}): ${streams} streams x ${fps} fps, dim ${dim}, ${subscribers} subscribers (all streams), ${elapsed.toFixed(1)} s measured`);
  console.log(`emitted ${emitted} embeddings (${(emitted / elapsed).toFixed(1)}/s); server sent ${value('dino_serve_messages_sent_total')} messages, ` +
    `${mb(value('dino_serve_bytes_sent_total'))} MB (incl. warm-up), dropped ${value('dino_serve_messages_dropped_total')}`);
  console.log('| format | subscribers | delivered | expected | p50 ms | p99 ms | max ms | msgs/s delivered |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const sorted = r.latencies.sort();
    const expected = emitted * r.subscribers;
    console.log(
      `| ${r.format} | ${r.subscribers} | ${r.delivered} | ${expected} | ${percentile(sorted, 0.5).toFixed(2)} | ${percentile(sorted, 0.99).toFixed(2)} | ` +
        `${percentile(sorted, 1).toFixed(2)} | ${(r.delivered / elapsed).toFixed(0)} |`,
    );
  }
  console.log(`process RSS (server + the subscriber worker, which keeps every latency sample): start ${mb(rss0)} MB; after each quarter ${quarters.map(mb).join(' / ')} MB; end ${mb(rss1)} MB; max ${mb(rssMax)} MB`);
  if (gc) console.log(`server heap after full GC: start ${mb(heap0)} MB; after each quarter ${heaps.map(mb).join(' / ')} MB`);
  else console.log('(run with node --expose-gc dist/scripts/benchServe.js to also see the live heap after full GCs)');
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  void runSubscribers(workerData as WorkerInput);
}
