import type { DriftEvalReport } from './driftEval';
import { median } from '../util/median';

/**
 * The drift evaluation over several seeds. One run is deterministic for its seed, but whether a borderline
 * stretch of scene A (a crowd passing) raises an event depends on the trained teacher, so a single seed cannot
 * tell a recipe that adds false events from one that drew one; the rate over seeds can.
 */
export interface DriftSeedSweepReport {
  seeds: number[];
  /** Runs with at least one event before the first switch, out of seeds.length. */
  runs_with_false_events: number;
  /** Mean number of false events per run. */
  false_events: number;
  /** Median delay after the first switch over the runs that detected it (null: none did). */
  delay_s: number | null;
  /** Runs that missed the first switch. */
  missed: number;
  /** Per seed: false events and delay after the first switch. */
  per_seed: { seed: number; false_events: number; delay_s: number | null }[];
  runs: DriftEvalReport[];
}

export function summariseDriftSeeds(seeds: readonly number[], runs: readonly DriftEvalReport[]): DriftSeedSweepReport {
  if (seeds.length !== runs.length || seeds.length === 0) {
    throw new Error(`summariseDriftSeeds: need one report per seed, got ${seeds.length} seeds and ${runs.length} reports`);
  }
  const delays = runs.map((r) => r.delay_s).filter((d): d is number => d !== null);
  return {
    seeds: [...seeds],
    runs_with_false_events: runs.filter((r) => r.false_events > 0).length,
    false_events: runs.reduce((a, r) => a + r.false_events, 0) / runs.length,
    delay_s: delays.length > 0 ? median(delays) : null,
    missed: runs.length - delays.length,
    per_seed: runs.map((r, i) => ({ seed: seeds[i]!, false_events: r.false_events, delay_s: r.delay_s })),
    runs: [...runs],
  };
}

/** "0-4" or "0,1,7" or "2-3,9": non-negative whole numbers, each once, in the order given. */
export function parseSeedList(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`--seeds must be whole numbers or ranges like 0-4, separated by commas, got "${spec}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`--seeds: range ${part.trim()} runs backwards; write it low-high`);
    for (let s = a; s <= b; s++) {
      if (out.includes(s)) throw new Error(`--seeds: seed ${s} is listed twice`);
      out.push(s);
    }
  }
  if (out.length > 100) throw new Error(`--seeds: at most 100 seeds, got ${out.length}`);
  return out;
}

export function driftSeedSweepTable(r: DriftSeedSweepReport): string {
  const f1 = (d: number | null) => (d === null ? 'missed' : d.toFixed(1));
  return [
    `| seed | false events | delay after the first switch s |`,
    `|---|---|---|`,
    ...r.per_seed.map((p) => `| ${p.seed} | ${p.false_events} | ${f1(p.delay_s)} |`),
    '',
    `${r.seeds.length} seeds: runs with false events ${r.runs_with_false_events}/${r.seeds.length} ` +
      `(mean ${r.false_events.toFixed(2)} per run); median delay ${f1(r.delay_s)} s; first switch missed in ${r.missed}`,
  ].join('\n');
}
