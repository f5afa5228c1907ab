/**
 * `npm run bench:detectors`: the cost of the per-frame detectors at the agent's default settings (config/default.json
 * `detect`), on random unit vectors of the live model's dimensions: a novelty update (score against the bank of
 * `noveltyBank` embeddings, then insert) and a drift test (MMD permutation test of the reference vs the recent
 * window, plus the reference's own block statistics for the margin). The detectors run on the event loop, so these
 * are the milliseconds an embedding round spends in them per stream. Median of many calls after warm-up.
 */
import { MMDDriftDetector } from '../src/detect/MMDDriftDetector';
import { configSchema } from '../config/schema';
import { createDriftDetector, createNoveltyDetector } from '../src/detect/detectorFactory';
import { Random } from '../src/util/Random';
import { l2Normalized } from '../src/detect/vectorMath';
import { median, table } from './benchCommon';

function unitVectors(rng: Random, n: number, d: number): Float32Array[] {
  return Array.from({ length: n }, () => l2Normalized(Float32Array.from({ length: d }, () => rng.normal())));
}

function timeCalls(n: number, call: () => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    call();
    times.push(performance.now() - t0);
  }
  return times;
}

function main(): void {
  const detect = configSchema.parse({}).detect;
  const rng = new Random(1);
  const rows: (string | number)[][] = [];
  for (const d of [96, 192]) {
    const novelty = createNoveltyDetector(detect, 'bench');
    for (const v of unitVectors(rng, detect.noveltyBank, d)) novelty.update(v); // full bank
    const queries = unitVectors(rng, 400, d);
    let qi = 0;
    timeCalls(100, () => novelty.update(queries[qi++ % queries.length]!)); // warm-up
    const nov = timeCalls(300, () => novelty.update(queries[qi++ % queries.length]!));
    rows.push([`novelty update (bank ${detect.noveltyBank}, k ${detect.noveltyK})`, d, median(nov).toFixed(3), Math.max(...nov).toFixed(3)]);

    // One test per call: fresh detectors with full windows, so every timed update is a test.
    const frames = unitVectors(rng, detect.driftWindow + detect.driftRecentWindow, d);
    const drift = (): MMDDriftDetector => {
      const det = createDriftDetector({ ...detect, driftTestEvery: 1 }, 'bench');
      frames.slice(0, -1).forEach((f) => det.update(f));
      return det;
    };
    const last = frames[frames.length - 1]!;
    for (let i = 0; i < 3; i++) drift().update(last); // warm-up
    const dets = Array.from({ length: 15 }, drift);
    const tests = dets.map((det) => timeCalls(1, () => det.update(last))[0]!);
    rows.push([`drift test (MMD ${detect.driftWindow}+${detect.driftRecentWindow}, ${detect.driftPermutations} permutations, margin blocks)`, d, median(tests).toFixed(2), Math.max(...tests).toFixed(2)]);
  }
  console.log(`detectors at the agent's defaults, one stream, on the event loop (node ${process.version})`);
  console.log(table(['call', 'dim', 'median ms', 'max ms'], rows));
  console.log(`per stream and embedding round: one novelty update, and a drift test every ${detect.driftTestEvery} rounds`);
}

main();
