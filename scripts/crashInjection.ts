import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Random } from '../src/util/Random';

export interface CrashInjectionOptions {
  dir: string;
  /** Stop after this many checkpoints were written and verified, over all lives of the child. */
  cycles: number;
  seed: number;
  /**
   * A life that got through its start writes a random number of checkpoints, uniform in [0, this), and is killed
   * at a random time within the next one's cycle (as long as the last cycle took): at random points of the write
   * cycle, whatever the machine's speed.
   */
  maxSavesPerLife: number;
  /** The share of lives killed at a random time during their start (loading, resuming, removing temp files). */
  startupKills: number;
  /** The child does one real training step every this many checkpoints (the others only advance its step). */
  trainEvery: number;
  /** Give up (a violation) when the cycles are not done by then. */
  deadlineMs?: number;
  log?: (msg: string) => void;
}

export interface CrashInjectionResult {
  lives: number;
  cycles: number;
  /** Kills that left a temp file (the kill landed inside a write). */
  killsMidWrite: number;
  /** Kills before the child had resumed. */
  killsInStartup: number;
  /** Broken promises, each a sentence; empty when every restart behaved. */
  violations: string[];
  finalStep: number;
}

interface ChildEvent {
  type: 'started' | 'saved' | 'error';
  pid?: number;
  step?: number;
  resumedFrom?: string | null;
  temps?: string[];
  error?: string;
}

/** The compiled child: beside this file in dist/scripts, or the built one when this runs from sources (jest). */
function childScript(): string {
  const beside = path.join(__dirname, 'crashChild.js');
  if (fs.existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '../dist/scripts/crashChild.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`${built} missing: run npm run build`);
}

type Kill = { afterSpawnMs: number } | { afterSaves: number; rng: Random } | 'when started';

/** One life of the child: spawn, collect its events, SIGKILL it at the chosen point. */
function life(dir: string, trainEvery: number, when: Kill): Promise<{ events: ChildEvent[]; killed: boolean; code: number | null; stderr: string; startMs: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const args = [childScript(), dir, String(trainEvery), ...(when === 'when started' ? ['start-only'] : [])];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const events: ChildEvent[] = [];
    let buf = '';
    let stderr = '';
    let killed = false;
    let startMs = NaN;
    let saves = 0;
    let lastEventAt = t0;
    const kill = () => {
      killed = true;
      proc.kill('SIGKILL');
    };
    // a child that neither starts nor saves for this long is stuck: kill it (the life then reports no progress)
    let timer = setTimeout(kill, typeof when === 'object' && 'afterSpawnMs' in when ? when.afterSpawnMs : 120_000);
    const killWithin = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(kill, when !== 'when started' && 'rng' in when ? when.rng.uniform(0, ms) : 0);
    };
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let e: ChildEvent;
        try {
          e = JSON.parse(line) as ChildEvent;
        } catch {
          continue;
        }
        events.push(e);
        const now = Date.now();
        const cycleMs = Math.max(1, now - lastEventAt);
        lastEventAt = now;
        if (e.type === 'started') {
          startMs = now - t0;
          if (when === 'when started') kill();
          else if ('afterSaves' in when && when.afterSaves === 0) killWithin(50);
        } else if (e.type === 'saved' && typeof when === 'object' && 'afterSaves' in when && ++saves === when.afterSaves) {
          killWithin(cycleMs);
        }
      }
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ events, killed, code, stderr, startMs });
    });
  });
}

/**
 * SIGKILL the checkpointing child at random points, restart it, and check what every restart promises: it resumes
 * from a verified checkpoint at a step no lower than the last one verified before the kill, and no temp file is
 * left in the directory once it has started.
 */
export async function runCrashInjection(o: CrashInjectionOptions): Promise<CrashInjectionResult> {
  fs.mkdirSync(o.dir, { recursive: true });
  const rng = new Random(o.seed);
  const r: CrashInjectionResult = { lives: 0, cycles: 0, killsMidWrite: 0, killsInStartup: 0, violations: [], finalStep: 0 };
  let lastVerified = 0;
  let startMs = 1000;
  const deadline = Date.now() + (o.deadlineMs ?? Infinity);
  for (;;) {
    if (Date.now() > deadline) {
      r.violations.push(`only ${r.cycles} checkpoints verified in ${r.lives} lives before the deadline`);
      break;
    }
    const done = r.cycles >= o.cycles;
    // the last life is not killed at random: it only has to start, and is then stopped
    const when: Kill = done
      ? 'when started'
      : rng.next() < o.startupKills
        ? { afterSpawnMs: rng.uniform(0, startMs) }
        : { afterSaves: rng.int(o.maxSavesPerLife), rng };
    const l = await life(o.dir, o.trainEvery, when);
    if (Number.isFinite(l.startMs)) startMs = l.startMs;
    r.lives++;
    const started = l.events.find((e) => e.type === 'started');
    const error = l.events.find((e) => e.type === 'error');
    if (error || !l.killed) {
      r.violations.push(`life ${r.lives} died on its own (code ${l.code}): ${error?.error ?? l.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      break;
    }
    if (started) {
      if (started.step! < lastVerified) {
        r.violations.push(`life ${r.lives} resumed at step ${started.step} (${started.resumedFrom}), below the last verified ${lastVerified}`);
      }
      if (lastVerified > 0 && !started.resumedFrom) r.violations.push(`life ${r.lives} started fresh although step ${lastVerified} was verified`);
      if (started.resumedFrom && !new RegExp(`-0*${started.step}\\.dino$`).test(started.resumedFrom)) {
        r.violations.push(`life ${r.lives} says step ${started.step} but resumed ${started.resumedFrom}`);
      }
      if (started.temps!.length > 0) r.violations.push(`life ${r.lives} started with temp files left: ${started.temps!.join(', ')}`);
      r.finalStep = started.step!;
    } else {
      r.killsInStartup++;
    }
    for (const e of l.events) {
      if (e.type !== 'saved') continue;
      lastVerified = Math.max(lastVerified, e.step!);
      r.cycles++;
    }
    if (fs.readdirSync(o.dir).some((f) => f.endsWith('.tmp'))) r.killsMidWrite++;
    if (done && started) break;
    if (r.violations.length > 0) break;
    if (r.lives % 10 === 0) o.log?.(`${r.lives} lives, ${r.cycles} checkpoints verified, last step ${lastVerified}`);
  }
  return r;
}
