/**
 * Scale-out benchmark: the same cameras and model through the single-process agent and through the scaled-out
 * roles over Debian's nats-server (1 ingest, k embed workers, 1 detect shard with the trainer, 1 gateway, each its
 * own process), k = 1, 2, 4, alternated in rounds so that every configuration sees the same machine. A ws
 * subscriber at the server counts the embeddings and each one's latency from its frame's capture time (the
 * synthetic camera stamps it as it publishes). Each load of --cameras is run: a light one (latency and CPU per
 * frame with the machine keeping up) and a heavy one (throughput when the embedders cannot keep up; the scaled-out
 * workers then skip the frames older than nats.maxFrameAgeSec, counted as stale). CPU time
 * of every process (utime + stime from /proc, all threads) over the measured window gives the cost of a frame per
 * role, and from it the cameras one core serves at 5 fps, a figure the machine's other load distorts far less
 * than the wall-clock rates.
 *
 *   npm run build && npm run bench:scale -- [--model small] [--cameras 8,32] [--fps 5] [--seconds 30] [--rounds 2] [--workers 1,2,4]
 *
 * Training is off everywhere (--no-train; the trainer publishes its initial teacher once), so that the figures
 * are the serving path's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { decodeBinary } from '../src/protocol/EmbeddingCodec';
import { AgentProcess } from '../test/agent/agentProcess';
import { NatsServer } from '../test/helpers/natsServer';
import { arg, median, scrapeMetrics, table } from './benchCommon';

const CLOCK_TICK = 100; // /proc/<pid>/stat times are in clock ticks (USER_HZ, 100 on Linux)

/** CPU seconds a process has used so far (all its threads); NaN once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICK; // fields 14 and 15 of the whole line
  } catch {
    return NaN;
  }
}

interface Options {
  model: string;
  fps: number;
  seconds: number;
  warmupSec: number;
}

interface RunResult {
  name: string;
  cameras: number;
  workers: number;
  /** Frames the embed workers skipped as stale, per second (scaled out only). */
  stalePerSec: number;
  framesPerSec: number;
  offeredPerSec: number;
  p50: number;
  p99: number;
  /** CPU seconds per delivered frame, by role (agent: the one process). */
  cpuPerFrame: Record<string, number>;
  load: [number, number];
}

/** A subscriber to every embedding, recording arrival latencies once `recording` is set. */
class Subscriber {
  latencies: number[] = [];
  count = 0;
  recording = false;
  private readonly ws: WebSocket;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      const e = decodeBinary(new Uint8Array(data as Buffer));
      this.count++;
      if (this.recording) this.latencies.push(Date.now() - e.t);
    });
    this.ws.on('error', () => undefined);
  }
  close(): void {
    this.ws.terminate();
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configFile(dir: string, o: Options, cameras: number, extra: Record<string, unknown>): string {
  const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      model: { size: o.model },
      train: { enabled: false },
      sources: Array.from({ length: cameras }, (_, i) => ({ kind: 'synthetic', id: `cam${i}`, fps: o.fps, seed: i + 1, sceneEverySec: null })),
      // every frame is a candidate in the single process too: a round per frame period
      embed: { fps: o.fps, attentionEverySec: 0, thumbnailFps: 0 },
      server: { port: 0 },
      checkpoint: { dir: path.join(dir, 'ckpt'), resume: false },
      log: { statusEverySec: 0, level: 'info' },
      ...extra,
    }),
  );
  return file;
}

const ready = async (p: AgentProcess) => Number((await p.waitFor(/^(health|dashboard) http:\/\/127\.0\.0\.1:(\d+)\//, 180_000))[2]);

/** One measured process: its role, pid, port, and the counter of the frames it handled (null: those delivered). */
interface Measured {
  role: string;
  pid: number | undefined;
  port: number;
  counter: string | null;
}

/** Sum of a Prometheus counter over all its label sets, from a process's /metrics (0 when absent). */
async function counterSum(port: number, name: string): Promise<number> {
  const text = await scrapeMetrics(port);
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Waits for the first embedding and o.warmupSec more, then measures for o.seconds. */
async function measure(url: string, o: Options, cameras: number, procs: Measured[], name: string, workers: number): Promise<RunResult> {
  const sub = new Subscriber(url);
  const t0 = Date.now();
  while (sub.count === 0) {
    if (Date.now() - t0 > 180_000) throw new Error(`${name}: no embedding within 180 s`);
    await sleep(200);
  }
  await sleep(o.warmupSec * 1000);
  const load0 = os.loadavg()[0]!;
  const snapshot = () =>
    Promise.all(
      procs.map(async (p) => ({
        cpu: cpuSeconds(p.pid),
        n: p.counter ? await counterSum(p.port, p.counter) : sub.count,
        stale: p.role === 'embed' ? await counterSum(p.port, 'dino_scale_frames_stale_total') : 0,
      })),
    );
  const before = await snapshot();
  const n0 = sub.count;
  sub.recording = true;
  const w0 = performance.now();
  await sleep(o.seconds * 1000);
  const after = await snapshot();
  const elapsed = (performance.now() - w0) / 1000;
  const frames = sub.count - n0;
  sub.recording = false;
  sub.close();
  // CPU per frame of each role: its processes' CPU over the frames they handled (a worker: those it embedded)
  const cpu: Record<string, { s: number; n: number }> = {};
  procs.forEach((p, i) => {
    const c = (cpu[p.role] ??= { s: 0, n: 0 });
    c.s += after[i]!.cpu - before[i]!.cpu;
    c.n += after[i]!.n - before[i]!.n;
  });
  const cpuPerFrame = Object.fromEntries(Object.entries(cpu).map(([role, c]) => [role, c.s / Math.max(1, c.n)]));
  const sorted = sub.latencies.sort((a, b) => a - b);
  const stale = procs.reduce((a, _p, i) => a + after[i]!.stale - before[i]!.stale, 0);
  return {
    name, cameras, workers, stalePerSec: stale / elapsed, framesPerSec: frames / elapsed, offeredPerSec: cameras * o.fps, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), cpuPerFrame, load: [load0, os.loadavg()[0]!],
  };
}

async function stopAll(procs: AgentProcess[]): Promise<void> {
  for (const p of procs) p.signal('SIGTERM');
  const timer = setTimeout(() => procs.forEach((p) => p.kill()), 15_000);
  await Promise.all(procs.map((p) => p.exited));
  clearTimeout(timer);
}

async function singleProcess(dir: string, o: Options, cameras: number): Promise<RunResult> {
  const agent = new AgentProcess(['--config', configFile(dir, o, cameras, {})]);
  try {
    const port = await ready(agent);
    return await measure(`ws://127.0.0.1:${port}/embeddings?streams=*&format=binary`, o, cameras, [{ role: 'agent', pid: agent.pid, port, counter: null }], 'single-process agent', 0);
  } finally {
    await stopAll([agent]);
  }
}

async function scaledOut(dir: string, o: Options, cameras: number, workers: number): Promise<RunResult> {
  const broker = await NatsServer.start();
  const procs: { p: AgentProcess; role: string; counter: string | null }[] = [];
  try {
    // cores shared among the workers: more threads than cores would only make them wait on each other
    const threads = Math.max(1, Math.floor(os.cpus().length / workers));
    const cfg = configFile(dir, o, cameras, { nats: { url: broker.url } });
    const start = (roles: string, role: string, counter: string | null, env: NodeJS.ProcessEnv = {}) => {
      const p = new AgentProcess(['--config', cfg, '--role', roles, '--instance', `${role}-${procs.length}`], env);
      procs.push({ p, role, counter });
    };
    start('gateway', 'gateway', null); // the gateway's frames are the ones delivered to the subscriber
    start('train,detect', 'detect', 'dino_scale_scored_total');
    for (let i = 0; i < workers; i++) start('embed', 'embed', 'dino_scale_frames_embedded_total', { DINO__BACKEND__THREADS: String(threads) });
    start('ingest', 'ingest', 'dino_scale_frames_published_total');
    const ports = await Promise.all(procs.map(({ p }) => ready(p)));
    const measured: Measured[] = procs.map(({ p, role, counter }, i) => ({ role, pid: p.pid, port: ports[i]!, counter }));
    // the broker's CPU per frame published (each frame passes it three times: FRAMES, EMBEDDED, EMB)
    measured.push({ role: 'broker', pid: broker.pid, port: ports[ports.length - 1]!, counter: 'dino_scale_frames_published_total' });
    return await measure(
      `ws://127.0.0.1:${ports[0]}/embeddings?streams=*&format=binary`,
      o,
      cameras,
      measured,
      `scaled out, ${workers} embed worker${workers > 1 ? 's' : ''} (${threads} thread${threads > 1 ? 's' : ''} each)`,
      workers,
    );
  } finally {
    await stopAll(procs.map(({ p }) => p));
    await broker.dispose();
  }
}

async function main(): Promise<void> {
  const o: Options = {
    model: arg('model', 'small'),
    fps: Number(arg('fps', '5')),
    seconds: Number(arg('seconds', '30')),
    warmupSec: Number(arg('warmup', '5')),
  };
  const loads = arg('cameras', '8,32').split(',').map(Number);
  const rounds = Number(arg('rounds', '2'));
  const workerCounts = arg('workers', '1,2,4').split(',').map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-bench-scale-'));
  const loadavg = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`bench:scale ${new Date().toISOString()} on ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}; load average ${loadavg()}`);
  console.log(
    `${loads.join(' and ')} synthetic cameras x ${o.fps} fps (${loads.map((c) => c * o.fps).join(' and ')} frames/s offered), model ${o.model}, training off; ` +
      `${o.seconds} s measured per run, ${rounds} rounds alternated`,
  );
  const runs: RunResult[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const cameras of loads) {
        const configs: (() => Promise<RunResult>)[] = [() => singleProcess(dir, o, cameras), ...workerCounts.map((k) => () => scaledOut(dir, o, cameras, k))];
        for (const run of configs) {
          const res = await run();
          runs.push(res);
          const cpu = Object.entries(res.cpuPerFrame).map(([k, v]) => `${k} ${(1000 * v).toFixed(1)}`).join(', ');
          console.log(
            `round ${r + 1}, ${cameras} cameras: ${res.name}: ${res.framesPerSec.toFixed(1)} frames/s (${res.stalePerSec.toFixed(1)} stale/s), ` +
              `p50 ${res.p50} ms, p99 ${res.p99} ms, CPU ms/frame ${cpu}, load ${res.load.map((x) => x.toFixed(1)).join('->')}`,
          );
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const keys = [...new Set(runs.map((r) => `${r.cameras}|${r.name}`))];
  const rows = keys.map((k) => {
    const rs = runs.filter((r) => `${r.cameras}|${r.name}` === k);
    const cpu = (role: string) => median(rs.map((r) => r.cpuPerFrame[role] ?? NaN));
    const total = median(rs.map((r) => Object.values(r.cpuPerFrame).reduce((a, b) => a + b, 0)));
    return [
      String(rs[0]!.cameras),
      rs[0]!.name,
      `${median(rs.map((r) => r.framesPerSec)).toFixed(1)} of ${rs[0]!.offeredPerSec}`,
      rs[0]!.workers ? median(rs.map((r) => r.stalePerSec)).toFixed(1) : '-',
      median(rs.map((r) => r.p50)).toFixed(0),
      median(rs.map((r) => r.p99)).toFixed(0),
      rs[0]!.cpuPerFrame['agent'] !== undefined ? `${(1000 * cpu('agent')).toFixed(1)}` : ['embed', 'detect', 'ingest', 'gateway', 'broker'].map((x) => `${x} ${(1000 * cpu(x)).toFixed(1)}`).join(', '),
      (1 / (o.fps * total)).toFixed(1),
    ];
  });
  console.log(`\nmedians over ${rounds} rounds (load average at the end ${loadavg()}):`);
  console.log(
    table(['cameras', 'configuration', 'frames/s delivered', 'stale/s', 'p50 ms', 'p99 ms', 'CPU ms per frame', `cameras per core at ${o.fps} fps`], rows),
  );

  // sizing from the light load (the machine keeping up): each role's CPU per frame over every run that had it
  const light = runs.filter((r) => r.cameras === loads[0]);
  const perRole = (role: string) => median(light.flatMap((r) => (r.cpuPerFrame[role] !== undefined ? [r.cpuPerFrame[role]!] : [])));
  const sizing = [
    ['single-process agent (everything)', perRole('agent')],
    ['embed worker', perRole('embed')],
    ['detect shard', perRole('detect')],
    ['ingest (synthetic cameras; a real one adds its ffmpeg decode, bench:ingest)', perRole('ingest')],
    ['gateway (one subscriber)', perRole('gateway')],
    ['broker (nats-server)', perRole('broker')],
  ] as const;
  const scaled = sizing.slice(1).reduce((a, [, v]) => a + v, 0);
  console.log(`\nsizing, model ${o.model}, ${loads[0]} cameras: CPU per frame of each role (medians over its runs) and the cameras one core serves at ${o.fps} fps:`);
  console.log(
    table(
      ['role', 'CPU ms per frame', `cameras per core at ${o.fps} fps`],
      [...sizing, ['scaled out, all roles', scaled] as const].map(([name, v]) => [name, (1000 * v).toFixed(2), (1 / (o.fps * v)).toFixed(1)]),
    ),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
