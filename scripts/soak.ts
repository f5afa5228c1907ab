/**
 * npm run soak -- [--minutes 60] [--warmup-minutes N] [--sample-sec 60] [--model small] [--out docs/soak.md]
 *
 * A long run of the real agent (`dino-stream run`, a child process) under load: 4 cameras (2 video files played in
 * real time, 2 synthetic), a websocket ingest stream fed 5 JPEG frames a second, 20 websocket subscribers
 * (/embeddings JSON and binary, /events, /ui) and training. Every sample: the agent's RSS, its main thread's JS
 * heap, tfjs tensors (main thread and trainer worker), open file descriptors and child processes, the training
 * step, the messages subscribers received, and error lines. Pass: after the warm-up every series is flat within
 * 10% (the median of the last third of the samples against the median of the first third; tensors, fds and
 * children also by their extremes) and the agent logged no error line. Writes the table to --out and exits 1 on a
 * failure.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { arg, scrapeMetrics, table } from './benchCommon';
import { median } from '../src/util/median';
import { spawnTied } from '../streams/sources/childProcess';

const ROOT = ((): string => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dino-stream') return dir;
  }
  throw new Error('no dino-stream package.json above this script');
})();
const VIDEO = (name: string) => path.resolve(ROOT, '../shared/data/video', name);

interface Sample {
  minute: number;
  rssMb: number;
  heapMb: number;
  tensorsMain: number;
  tensorsTrainer: number;
  fds: number;
  children: number;
  step: number;
  ingestSent: number;
  /** Frames of the ingest stream the agent decoded (its counter). */
  ingestDecoded: number;
  received: number;
  errors: number;
  /** The agent's longest event-loop delay since the previous sample (prom-client resets it at each scrape), s. */
  lagMaxSec: number;
  /** rate_limited answers the ingest producer has had: frames that arrived in a burst after a stall of the loop. */
  rateLimited: number;
}

/** Children of `pid` (the ffmpeg processes of the file sources), from /proc. */
function childrenOf(pid: number): number {
  let n = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const m = /^\d+ \(.*\) (\S) (\d+)/.exec(fs.readFileSync(`/proc/${d}/stat`, 'utf8'));
      if (m && m[1] !== 'Z' && Number(m[2]) === pid) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function metric(text: string, name: string, labels = ''): number {
  const re = new RegExp(`^${name}${labels.replace(/[{}"]/g, (c) => `\\${c}`)} ([\\d.e+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

/** The agent as a child process, its JSON log parsed: the port it listens on, error lines. */
class AgentChild {
  readonly proc: ChildProcess;
  port = 0;
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  private buf = '';

  constructor(args: string[]) {
    // tied: if this script dies, the agent goes with it
    this.proc = spawnTied(process.execPath, [...(process.env.SOAK_NODE_ARGS ?? '').split(' ').filter(Boolean), path.join(ROOT, 'dist/src/cli.js'), 'run', '--log-format', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => {
      this.buf += d.toString();
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        let l: { level?: number; msg?: string; err?: string };
        try {
          l = JSON.parse(line) as typeof l;
        } catch {
          // not a log line: a native library's own warning, or a crash trace
          if (/^Warning: /.test(line)) this.warnings.push(line.slice(0, 300));
          else if (line.trim()) this.errors.push(line.slice(0, 300));
          continue;
        }
        const m = /^dashboard http:\/\/127\.0\.0\.1:(\d+)\//.exec(l.msg ?? '');
        if (m) this.port = Number(m[1]);
        const text = `${l.msg ?? ''}${l.err ? `: ${l.err}` : ''}`.slice(0, 300);
        if ((l.level ?? 0) >= 50) this.errors.push(text);
        else if ((l.level ?? 0) === 40) this.warnings.push(text);
      }
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
  }
}

/** 20 subscribers: /embeddings JSON (8) and binary (6), /events (4), /ui (2); counts messages and closes. */
function subscribe(port: number): { received: () => number; closes: () => number; close: () => void } {
  const paths = [
    ...Array(8).fill('/embeddings?streams=*&format=json'),
    ...Array(6).fill('/embeddings?streams=*&format=binary'),
    ...Array(4).fill('/events'),
    ...Array(2).fill('/ui'),
  ] as string[];
  let received = 0;
  let closes = 0;
  let closing = false;
  const sockets = paths.map((p) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`);
    ws.on('message', () => received++);
    ws.on('close', () => {
      if (!closing) closes++;
    });
    ws.on('error', () => undefined);
    return ws;
  });
  return {
    received: () => received,
    closes: () => closes,
    close: () => {
      closing = true;
      for (const ws of sockets) ws.close();
    },
  };
}

/** Pushes JPEG frames to /ingest/<id> at `fps`; counts what was sent and the rate_limited answers. */
async function ingest(port: number, id: string, fps: number): Promise<{ sent: () => number; rateLimited: () => number; closedBy: () => string | undefined; close: () => void }> {
  const frames = await Promise.all(
    Array.from({ length: 8 }, (_, i) => {
      const px = Buffer.alloc(64 * 64 * 3);
      for (let k = 0; k < px.length; k++) px[k] = (((k / 3) % 64) * 4 + i * 29 + (k % 3) * 80) & 255;
      return sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
    }),
  );
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ingest/${id}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let sent = 0;
  let rateLimited = 0;
  let closedBy: string | undefined;
  ws.on('message', (data, isBinary) => {
    if (!isBinary && /"rate_limited"/.test(data.toString())) rateLimited++;
  });
  ws.on('close', (code, reason) => (closedBy ??= `${code} ${reason.toString()}`.trim()));
  const timer = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.send(frames[sent++ % frames.length]!);
  }, 1000 / fps);
  return {
    sent: () => sent,
    rateLimited: () => rateLimited,
    closedBy: () => closedBy,
    close: () => {
      clearInterval(timer);
      closedBy ??= 'by the soak';
      ws.close();
    },
  };
}

/** Growth of the median of the last third of `xs` over the median of the first third; extremes' spread. */
function flatness(xs: number[]): { growth: number; spread: number } {
  const third = Math.max(1, Math.floor(xs.length / 3));
  const first = median(xs.slice(0, third));
  const last = median(xs.slice(-third));
  return { growth: first > 0 ? last / first - 1 : last === first ? 0 : Infinity, spread: Math.min(...xs) > 0 ? Math.max(...xs) / Math.min(...xs) - 1 : Math.max(...xs) === Math.min(...xs) ? 0 : Infinity };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** /metrics (scrapeMetrics), '' if it did not answer. */
async function scrape(port: number): Promise<string> {
  return scrapeMetrics(port).catch(() => '');
}

async function main(): Promise<void> {
  const minutes = Number(arg('minutes', '60'));
  const warmup = Number(arg('warmup-minutes', String(Math.max(2, Math.round(minutes / 6)))));
  const sampleSec = Number(arg('sample-sec', '60'));
  const model = arg('model', 'small');
  const out = path.resolve(ROOT, arg('out', 'docs/soak.md'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-soak-'));
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      model: { size: model },
      server: { port: 0 },
      sources: [
        { kind: 'file', id: 'campus', path: VIDEO('vtest_h264.mp4'), fps: 5 },
        { kind: 'file', id: 'tree', path: VIDEO('tree_h264.mp4'), fps: 5 },
        { kind: 'synthetic', id: 'synth1', fps: 5, seed: 1, sceneEverySec: 120 },
        { kind: 'synthetic', id: 'synth2', fps: 5, seed: 2, sceneEverySec: 45 },
        { kind: 'ws', id: 'phone', fps: 5 },
      ],
      checkpoint: { dir: path.join(dir, 'checkpoints'), everySec: 300 },
      events: { dir: path.join(dir, 'events') },
      log: { statusEverySec: 60 },
    }),
  );
  const started = new Date();
  const load0 = os.loadavg();
  const agent = new AgentChild(['-c', config]);
  const pid = agent.proc.pid!;
  let exited: number | null | undefined;
  agent.proc.on('exit', (code) => (exited = code));
  for (let t = 0; !agent.port; t++) {
    if (exited !== undefined || t > 600) throw new Error(`the agent did not start: ${agent.errors.join(' | ')}`);
    await sleep(500);
  }
  console.log(`agent pid ${pid} on port ${agent.port}; ${minutes} min, samples every ${sampleSec} s, warm-up ${warmup} min`);
  const subs = subscribe(agent.port);
  const feed = await ingest(agent.port, 'phone', 5);

  const samples: Sample[] = [];
  let scrapeFailures = 0;
  const loads: number[] = [];
  const t0 = Date.now();
  for (let k = 1; k * sampleSec <= minutes * 60 && exited === undefined; k++) {
    await sleep(Math.max(0, t0 + k * sampleSec * 1000 - Date.now()));
    if (exited !== undefined) break;
    const text = await scrape(agent.port);
    if (!text) scrapeFailures++;
    const s: Sample = {
      minute: +((k * sampleSec) / 60).toFixed(2),
      rssMb: rssMb(pid),
      heapMb: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
      tensorsMain: metric(text, 'dino_tfjs_tensors', '{thread="main"}'),
      tensorsTrainer: metric(text, 'dino_tfjs_tensors', '{thread="trainer"}'),
      fds: fs.readdirSync(`/proc/${pid}/fd`).length,
      children: childrenOf(pid),
      step: metric(text, 'dino_train_step'),
      ingestSent: feed.sent(),
      ingestDecoded: metric(text, 'dino_serve_ingest_frames_total', '{stream="phone"}'),
      received: subs.received(),
      errors: agent.errors.length,
      lagMaxSec: metric(text, 'nodejs_eventloop_lag_max_seconds'),
      rateLimited: feed.rateLimited(),
    };
    samples.push(s);
    loads.push(os.loadavg()[0]!);
    console.log(JSON.stringify(s));
  }
  const ingestClosed = feed.closedBy();
  feed.close();
  subs.close();
  agent.proc.kill('SIGINT');
  const code = exited !== undefined ? exited : await new Promise<number | null>((r) => agent.proc.once('exit', (c) => r(c)));
  await sleep(500);
  const childrenAfter = childrenOf(pid);

  // verdict
  const after = samples.filter((s) => s.minute > warmup);
  const series: [string, (s: Sample) => number, boolean][] = [
    ['RSS', (s) => s.rssMb, false],
    ['JS heap (main thread)', (s) => s.heapMb, false],
    ['tensors, main thread', (s) => s.tensorsMain, true],
    ['tensors, trainer', (s) => s.tensorsTrainer, true],
    ['open fds', (s) => s.fds, true],
    ['child processes', (s) => s.children, true],
  ];
  const verdicts = series.map(([name, f, extremes]) => {
    // a sample whose scrape failed has no metric values; it is counted above
    const xs = after.map(f).filter(Number.isFinite);
    const { growth, spread } = flatness(xs);
    const ok = xs.length >= 3 && growth <= 0.1 && (!extremes || spread <= 0.1);
    return { name, growth, spread, ok, first: xs[0], last: xs[xs.length - 1] };
  });
  const trained = samples.length >= 2 && samples[samples.length - 1]!.step > samples[0]!.step;
  const checks: [string, boolean][] = [
    [`ran ${minutes} min (${samples.length} samples)`, samples.length * sampleSec >= minutes * 60],
    ...verdicts.map((v) => [`${v.name} flat within 10% after warm-up (growth ${(100 * v.growth).toFixed(1)} %, spread ${(100 * v.spread).toFixed(1)} %)`, v.ok] as [string, boolean]),
    [`no error lines (${agent.errors.length})`, agent.errors.length === 0],
    [`/metrics answered every sample (${scrapeFailures} failed 3 tries)`, scrapeFailures === 0],
    [`training went on (step ${samples[0]?.step} -> ${samples[samples.length - 1]?.step})`, trained],
    [`subscribers stayed connected (${subs.closes()} closed)`, subs.closes() === 0],
    [`the ingest producer stayed connected${ingestClosed ? ` (closed: ${ingestClosed})` : ''}`, ingestClosed === undefined],
    [`the agent decoded ingest frames in every sample after warm-up`, after.every((s, i) => i === 0 || s.ingestDecoded > after[i - 1]!.ingestDecoded)],
    [`stopped with exit code 0 on SIGINT (${code}), no child left (${childrenAfter})`, code === 0 && childrenAfter === 0],
  ];
  const pass = checks.every(([, ok]) => ok);

  const rows = samples.map((s, i) => [
    s.minute,
    s.rssMb.toFixed(0),
    s.heapMb.toFixed(1),
    s.tensorsMain,
    s.tensorsTrainer,
    s.fds,
    s.children,
    s.step,
    `${i === 0 ? s.ingestSent : s.ingestSent - samples[i - 1]!.ingestSent} / ${i === 0 ? s.ingestDecoded : s.ingestDecoded - samples[i - 1]!.ingestDecoded}`,
    i === 0 ? s.received : s.received - samples[i - 1]!.received,
    s.errors,
    s.lagMaxSec.toFixed(2),
    i === 0 ? s.rateLimited : s.rateLimited - samples[i - 1]!.rateLimited,
    loads[i]!.toFixed(1),
  ]);
  const md = [
    '# Soak run (the last one)',
    '',
    `\`npm run soak -- --minutes ${minutes}\` (${process.argv.slice(2).join(' ') || 'defaults'}); started ${started.toISOString()}, model ${model},`,
    `${os.cpus().length} cores; load average at start ${load0.map((x) => x.toFixed(1)).join(' / ')}, median during the run ${median(loads).toFixed(1)}`,
    '(the machine is shared with other jobs: timings move with it, the flatness of the series should not).',
    '',
    'Load: 2 video files played in real time and 2 synthetic cameras at 5 fps, a websocket ingest stream at 5 fps,',
    '20 websocket subscribers (8 /embeddings JSON, 6 binary, 4 /events, 2 /ui), training, checkpoints every 5 min.',
    '',
    `**${pass ? 'PASS' : 'FAIL'}**, warm-up ${warmup} min:`,
    '',
    ...checks.map(([what, ok]) => `- ${ok ? 'ok' : 'FAILED'}: ${what}`),
    ...(agent.errors.length ? ['', 'Error lines:', '', ...agent.errors.slice(0, 20).map((e) => `    ${e}`)] : []),
    ...(agent.warnings.length ? ['', `Warnings (${agent.warnings.length}, first 10):`, '', ...agent.warnings.slice(0, 10).map((e) => `    ${e}`)] : []),
    '',
    table(['min', 'RSS MB', 'heap MB', 'tensors main', 'tensors trainer', 'fds', 'children', 'step', 'ingest frames sent / decoded', 'messages received', 'error lines', 'loop lag max s', 'ingest rate_limited', 'load'], rows),
    '',
  ].join('\n');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, md);
  console.log(md);
  if (!pass) process.exit(1);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
