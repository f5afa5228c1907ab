/**
 * Side-by-side measurement for `bench:train -- --against-pytorch` and `bench:infer -- --against-pytorch |
 * --against-onnxruntime`: each engine runs in its own process that has loaded its model and waits for commands on
 * stdin ("warmup N", "run N", "quit"; one JSON line back per command). The parent warms both up, then times them in
 * turns (ours, theirs, theirs, ours, ...) so that the load of a shared machine falls on both alike, and prints both
 * medians, the ratio, GFLOP/s and peak RSS, with the machine's load average beside them.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { median, table } from './benchCommon';

export interface Reply {
  ms: number[];
  peakRssMb: number;
  [k: string]: unknown;
}

/** One engine process speaking the line protocol. */
export class LineChild {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterableIterator<string>;
  private stderr = '';

  constructor(readonly label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.proc = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.lines = readline.createInterface({ input: this.proc.stdout })[Symbol.asyncIterator]();
  }

  /** The next JSON line (lines that are not JSON objects, e.g. library banners, are skipped). */
  async next<T = Reply>(): Promise<T> {
    for (;;) {
      const r = await this.lines.next();
      if (r.done) throw new Error(`${this.label} exited: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      if (r.value.startsWith('{')) return JSON.parse(r.value) as T;
    }
  }

  async send(cmd: string): Promise<Reply> {
    this.proc.stdin.write(`${cmd}\n`);
    return this.next();
  }

  close(): void {
    this.proc.stdin.end('quit\n');
  }
}

export interface Side {
  label: string;
  detail: string;
  ms: number[];
  peakRssMb: number;
}

/**
 * Warms every engine up (in turn), then `runs` timed runs each, in rounds whose order rotates (a, b, c; b, c, a;
 * ...) so that none always follows another.
 */
export async function alternate(children: LineChild[], warmup: number, runs: number): Promise<Reply[][]> {
  if (warmup > 0) for (const c of children) await c.send(`warmup ${warmup}`);
  const out: Reply[][] = children.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < children.length; k++) {
      const idx = (i + k) % children.length;
      out[idx]!.push(await children[idx]!.send('run 1'));
    }
  }
  return out;
}

export function side(label: string, detail: string, replies: Reply[]): Side {
  return { label, detail, ms: replies.flatMap((r) => r.ms), peakRssMb: Math.max(...replies.map((r) => r.peakRssMb)) };
}

/** The side-by-side table: medians, min, GFLOP/s at the median, peak RSS; ratio = theirs / ours (> 1: ours faster). */
export function comparisonTable(ours: Side, theirs: Side[], gflop: number, extra?: (s: Side) => string): string {
  const mo = median(ours.ms);
  const rows = [ours, ...theirs].map((s) => {
    const m = median(s.ms);
    return [
      s.label, m.toFixed(1), Math.min(...s.ms).toFixed(1), (gflop / (m / 1000)).toFixed(1),
      s === ours ? '1.00x' : `${(m / mo).toFixed(2)}x`, s.peakRssMb.toFixed(0), ...(extra ? [extra(s)] : []),
    ];
  });
  return table(
    ['engine', 'ms (median)', 'min', 'GFLOP/s', 'ours faster by', 'peak RSS MB', ...(extra ? ['per image'] : [])],
    rows,
  );
}

export function loadLine(): string {
  const [a, b, c] = os.loadavg();
  return `load average ${a!.toFixed(2)} ${b!.toFixed(2)} ${c!.toFixed(2)} (${os.cpus().length} cores)`;
}

// ---- PyTorch ------------------------------------------------------------------------------------------------

const TORCH_HELP =
  'python3-torch is not installed: on Debian/Ubuntu `apt-get install python3-torch libopenblas0-pthread` ' +
  '(or set DINO_PYTHON to a python with torch); printing ours alone';

/** Debian's OpenBLAS (pthread build), loaded ahead of whatever libblas.so.3 the alternatives point at. */
const OPENBLAS_DIRS = ['/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread'];

/**
 * OpenBLAS's best kernel for this CPU: its own detection takes some newer CPUs for old cores (an AVX-512 Xeon as
 * "Prescott", SSE3 kernels 3-4x slower), so it is named explicitly from the CPU flags unless OPENBLAS_CORETYPE is set.
 */
export function openblasCoretype(): string | undefined {
  if (process.env.OPENBLAS_CORETYPE) return process.env.OPENBLAS_CORETYPE;
  let cpuinfo = '';
  try {
    cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  if (flags.has('avx512f') && flags.has('avx512bw') && flags.has('avx512vl')) return 'SkylakeX';
  if (flags.has('avx2') && flags.has('fma')) return /AuthenticAMD/.test(cpuinfo) ? 'Zen' : 'Haswell';
  return undefined;
}

export function pythonCommand(): string {
  return process.env.DINO_PYTHON ?? '/usr/bin/python3';
}

/** The environment of the PyTorch process, or a reason why there is none. */
export function torchEnv(threads: number): { env: NodeJS.ProcessEnv } | { missing: string } {
  const py = pythonCommand();
  const probe = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return { missing: TORCH_HELP };
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const dir = OPENBLAS_DIRS.find((d) => fs.existsSync(path.join(d, 'libblas.so.3')));
  if (dir) env.LD_LIBRARY_PATH = [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const core = openblasCoretype();
  if (core) env.OPENBLAS_CORETYPE = core;
  return { env };
}

export const TORCH_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'reference', 'bench_tiny_torch.py');

/** Starts the PyTorch statement of the bench in `mode` and reads its banner (versions, BLAS, kernel). */
export async function startTorch(
  mode: 'train' | 'infer', batch: number, threads: number,
): Promise<{ child: LineChild; detail: string } | { missing: string }> {
  const te = torchEnv(threads);
  if ('missing' in te) return te;
  const child = new LineChild('pytorch', pythonCommand(), [TORCH_SCRIPT, mode, '--batch', String(batch), '--threads', String(threads)], te.env);
  const banner = await child.next<{ torch: string; threads: number; blas: { libs: string[]; corename: string | null } }>();
  const blas = banner.blas.corename
    ? `OpenBLAS ${banner.blas.corename} kernels`
    : `BLAS ${banner.blas.libs.map((l) => path.basename(l)).join(', ') || 'unknown'} (not OpenBLAS: slower than PyTorch can be)`;
  return { child, detail: `PyTorch ${banner.torch} CPU, ${banner.threads} threads, ${blas}` };
}

/**
 * The engine side of the line protocol: "warmup N" and "run N" call `run` N times (each returns its ms), "quit"
 * ends. Each reply carries the times, peak RSS, and what `extra` adds (e.g. tensors alive).
 */
export async function serveCommands(run: () => Promise<number>, extra: () => Record<string, unknown> = () => ({})): Promise<void> {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, nStr] = line.trim().split(/\s+/);
    if (!cmd) continue;
    if (cmd === 'quit') break;
    const n = Number(nStr ?? '1');
    const ms: number[] = [];
    for (let i = 0; i < n; i++) ms.push(await run());
    console.log(JSON.stringify({ ms, peakRssMb: process.resourceUsage().maxRSS / 1024, ...extra() }));
  }
  rl.close();
}
