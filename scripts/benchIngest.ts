/**
 * Ingest benchmark: N stand-in RTSP cameras (GStreamer, test/fixtures/rtspCamera.py) -> N FfmpegSource at a target
 * fps -> frames counted in this process. Reports frames/s delivered per camera and CPU: this process
 * (process.cpuUsage) and the ffmpeg children (utime+stime from /proc/<pid>/stat), for 1 and 4 cameras.
 *
 *   npm run build && npm run bench:ingest -- [--cameras 1,4] [--seconds 15] [--fps 10] [--size 96x96] [--file clip.mp4]
 *
 * The stand-in cameras' own CPU (decode + x264 re-encode) is shown apart: a real camera does that work itself.
 */
import { execSync, spawnSync } from 'child_process';
import * as path from 'path';
import { readFileSync } from 'fs';
import { cpus } from 'os';
import { Subscription } from 'rxjs';
import { FfmpegSource } from '../streams/sources/FfmpegSource';
import { ReplayBuffer } from '../streams/ReplayBuffer';
import { silentLogger } from '../src/util/Logger';
import { Frame } from '../streams/Frame';
import { RtspCamera, VTEST } from '../test/fixtures/rtspCamera';

interface Args {
  cameras: number[];
  seconds: number;
  fps: number;
  width: number;
  height: number;
  file: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const [w, h] = (get('size') ?? '96x96').split('x').map(Number);
  return {
    cameras: (get('cameras') ?? '1,4').split(',').map(Number),
    seconds: Number(get('seconds') ?? 15),
    fps: Number(get('fps') ?? 10),
    width: w!,
    height: h!,
    file: get('file') ?? VTEST,
  };
}

let clkTck = 100;
try {
  clkTck = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
} catch {
  // Linux default
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; undefined once it is gone. */
function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the ")" that closes the command name: state is field 3, utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clkTck;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Row {
  cameras: number;
  fpsMin: number;
  fpsMean: number;
  fpsMax: number;
  nodePct: number;
  ffmpegPct: number;
  cameraPct: number;
  reconnects: number;
}

async function run(n: number, a: Args): Promise<Row> {
  const cams = Array.from({ length: n }, () => new RtspCamera({ file: a.file, fps: 10 }));
  const sources: FfmpegSource[] = [];
  const subs = new Subscription();
  try {
    await Promise.all(cams.map((c) => c.start()));
    const counts = new Array<number>(n).fill(0);
    cams.forEach((c, i) => {
      const s = new FfmpegSource({ streamId: `cam${i}`, url: c.url, width: a.width, height: a.height, fps: a.fps, logger: silentLogger });
      sources.push(s);
      subs.add(s.frames$.subscribe(() => counts[i]!++));
    });
    // warm-up: every camera live and delivering
    const t0 = Date.now();
    while (counts.some((c) => c < 5)) {
      if (Date.now() - t0 > 30_000) throw new Error(`cameras not live after 30 s: ${counts.join(',')}`);
      await sleep(100);
    }
    await sleep(1000);

    const spawns0 = sources.map((s) => s.stats.spawns);
    const pids = sources.map((s) => s.pid!);
    const ff0 = pids.map((p) => procCpuSeconds(p) ?? 0);
    const cam0 = cams.map((c) => procCpuSeconds(c.pid!) ?? 0);
    const c0 = [...counts];
    const node0 = process.cpuUsage();
    const w0 = performance.now();
    await sleep(a.seconds * 1000);
    const wall = (performance.now() - w0) / 1000;
    const node = process.cpuUsage(node0);
    const ff = pids.map((p, i) => (procCpuSeconds(p) ?? ff0[i]!) - ff0[i]!);
    const cam = cams.map((c, i) => (procCpuSeconds(c.pid!) ?? cam0[i]!) - cam0[i]!);
    const fps = counts.map((c, i) => (c - c0[i]!) / wall);
    const pct = (sec: number) => (100 * sec) / wall;
    return {
      cameras: n,
      fpsMin: Math.min(...fps),
      fpsMean: fps.reduce((x, y) => x + y, 0) / n,
      fpsMax: Math.max(...fps),
      nodePct: pct((node.user + node.system) / 1e6),
      ffmpegPct: pct(ff.reduce((x, y) => x + y, 0)),
      cameraPct: pct(cam.reduce((x, y) => x + y, 0)),
      reconnects: sources.reduce((acc, s, i) => acc + s.stats.spawns - spawns0[i]!, 0),
    };
  } finally {
    subs.unsubscribe();
    await Promise.all(sources.map((s) => s.whenStopped()));
    await Promise.all(cams.map((c) => c.stop('SIGTERM')));
  }
}

/** Cost of offering one frame to a full min-redundancy replay buffer (thumbnail + nearest-neighbour upkeep). */
function replayAddMicros(width: number, height: number, capacity = 1024): number {
  const buf = new ReplayBuffer({ capacity, policy: 'min-redundancy' });
  const mk = (i: number): Frame => ({
    streamId: `cam${i % 4}`,
    t: i,
    index: i,
    width,
    height,
    rgb: new Uint8Array(width * height * 3).map((_, k) => (k * 31 + i * 17) & 255),
  });
  const frames = Array.from({ length: 64 }, (_, i) => mk(i));
  for (let i = 0; i < capacity; i++) buf.add(frames[i % 64]!);
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) buf.add(frames[i % 64]!);
  return ((performance.now() - t0) * 1000) / n;
}

/** The batch-building time, from bench:views in a child process (its backend must not share this one's). */
function viewsBatchMs(): { ms: string; backend: string } {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'benchViews.js')], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"benchViews"'));
  if (!line) return { ms: `failed: ${(r.stderr || '').trim().split('\n').pop()}`, backend: '?' };
  const v = (JSON.parse(line) as { benchViews: { medianMs: number; backend: string } }).benchViews;
  return { ms: `${v.medianMs.toFixed(1)} ms median`, backend: v.backend };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const cores = cpus().length;
  console.log(`ingest bench: stand-in RTSP cameras serving ${a.file}, ${a.width}x${a.height} rgb24 at ${a.fps} fps each, ` +
    `${a.seconds} s measured per row, ${cores} cores; CPU % = percent of one core`);
  const rows: Row[] = [];
  for (const n of a.cameras) rows.push(await run(n, a));
  const f1 = (x: number) => x.toFixed(1);
  console.log('');
  console.log('| cameras | frames/s per camera (min / mean / max) | this process CPU % | ffmpeg CPU % (total) | ffmpeg CPU % per camera | ingest CPU % of the machine | stand-in cameras CPU % | reconnects |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.cameras} | ${f1(r.fpsMin)} / ${f1(r.fpsMean)} / ${f1(r.fpsMax)} | ${f1(r.nodePct)} | ${f1(r.ffmpegPct)} | ${f1(r.ffmpegPct / r.cameras)} | ` +
        `${f1((r.nodePct + r.ffmpegPct) / cores)} | ${f1(r.cameraPct)} | ${r.reconnects} |`,
    );
  }
  console.log('');
  console.log(`| stage | cost |`);
  console.log(`|---|---|`);
  console.log(`| replay buffer add (min-redundancy, capacity 1024, ${a.width}x${a.height}) | ${replayAddMicros(a.width, a.height).toFixed(0)} us/frame |`);
  const views = viewsBatchMs();
  console.log(`| one bench-tiny batch of views (32 frames 96x96 -> 2x64^2 + 4x32^2, ${views.backend}) | ${views.ms} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
