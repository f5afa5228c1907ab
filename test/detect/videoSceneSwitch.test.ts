/**
 * Detectors on real video. Drift: vtest (80 s, static camera over a courtyard, pedestrians) then tree (30 s, a tree;
 * a hand enters in the last 6 s), decoded at 5 fps to 32x32, features = 8x8 colour thumbnails,
 * L2-normalised. Expect exactly one event, after the switch, and none during vtest.
 * Measured while writing this: with the pure p-value (minStatistic 0) vtest alone fires at the first test
 * after every re-baseline (p = 1/101) because consecutive frames are not exchangeable; block permutations
 * did not change that.
 * The effect-size floor does: within-scene MMD^2 stays <= ~0.10 (vtest) / ~0.06 (tree, incl. the hand),
 * the switch passes 0.15 about 15 frames in.
 */
import * as path from 'path';
import { MMDDriftDetector } from '../../src/detect/MMDDriftDetector';
import { NoveltyDetector } from '../../src/detect/NoveltyDetector';
import { PageHinkley } from '../../src/detect/PageHinkley';
import { decodeFrames, thumbnail } from './thumbnails';
import { requireTool } from '../helpers/requireTool';
import { sharedData } from '../helpers/sharedData';

const VIDEO = sharedData('video');
const FPS = 5;

requireTool('ffmpeg')('detectors on video (vtest then tree)', () => {
  let a: Float32Array[];
  let b: Float32Array[];

  beforeAll(async () => {
    const feat = (rgb: Uint8Array) => thumbnail(rgb, 32, 8, false);
    a = (await decodeFrames(path.join(VIDEO, 'vtest_h264.mp4'), FPS, 32)).map(feat);
    b = (await decodeFrames(path.join(VIDEO, 'tree_h264.mp4'), FPS, 32)).map(feat);
  });

  const options = { refSize: 50, testEvery: 5, alpha: 0.01, nPermutations: 100, minSigma: 0.2, minStatistic: 0.15, seed: 1 };

  test('exactly one drift event, after the switch; delay reported', () => {
    expect(a.length).toBeGreaterThan(350); // ~398 frames
    expect(b.length).toBeGreaterThan(140); // ~150 frames
    const det = new MMDDriftDetector({ ...options, streamId: 'cam' });
    const stream = [...a, ...b];
    const events = [];
    let maxBefore = -Infinity;
    let tests = 0;
    for (let i = 0; i < stream.length; i++) {
      const r = det.update(stream[i]!, { t: (i / FPS) * 1000 });
      if (r.tested) tests++;
      if (r.tested && i < a.length) maxBefore = Math.max(maxBefore, r.statistic!);
      if (r.event) events.push(r.event);
    }
    expect(events).toHaveLength(1);
    const e = events[0]!;
    const delay = e.index - a.length + 1; // frames of scene B seen when the event fired
    console.log(
      `video drift: ${tests} tests, max MMD^2 on vtest ${maxBefore.toFixed(3)}; event at frame ${e.index} ` +
        `(switch at ${a.length}): delay ${delay} frames = ${(delay / FPS).toFixed(1)} s, ` +
        `MMD^2 ${e.statistic.toFixed(3)}, p ${e.pValue!.toFixed(4)}`,
    );
    expect(e.index).toBeGreaterThanOrEqual(a.length);
    expect(delay).toBeLessThanOrEqual(30); // within the 50-frame window, measured ~16
    expect(e).toMatchObject({ type: 'drift', method: 'mmd', streamId: 'cam', refSize: 50, recentSize: 50 });
  });

  test('each scene alone raises nothing', () => {
    for (const scene of [a, b]) {
      const det = new MMDDriftDetector(options);
      expect(scene.filter((x) => det.update(x).drift)).toHaveLength(0);
    }
  });

  test('why the effect-size floor: the pure permutation test fires on vtest alone', () => {
    const det = new MMDDriftDetector({ ...options, minSigma: 0, minStatistic: 0 });
    const fired = a.filter((x) => det.update(x).drift).length;
    console.log(`pure p-value (Alibi behaviour) on vtest alone: ${fired} false drift events in ${a.length} frames`);
    expect(fired).toBeGreaterThan(0);
  });

  test('novelty: the first frames of the new scene are novel, then it becomes familiar', () => {
    const det = new NoveltyDetector({ k: 5, capacity: 300, calibrationWindow: 200, minCalibration: 50 });
    const results = [...a, ...b].map((x) => det.update(x));
    const after = results.slice(a.length);
    const flaggedBefore = results.slice(0, a.length).filter((r) => r.isNovel).length;
    const flaggedAfter = after.flatMap((r, i) => (r.isNovel ? [i] : []));
    console.log(`video novelty (threshold 0.99): ${flaggedBefore} frames flagged in ${a.length} of vtest; tree frames flagged: ${flaggedAfter.join(',')}`);
    expect(after[0]!.calibrated).toBe(1);
    expect(after[0]!.isNovel).toBe(true);
    // Once k tree frames are in the bank the scene is familiar: novelty marks the switch, not the scene.
    expect(after.slice(10).filter((r) => r.isNovel).length).toBeLessThan(5);
    // Calibrated at 0.99, ~1% of ordinary frames are flagged by design.
    expect(flaggedBefore / a.length).toBeLessThan(0.04);

    // Page-Hinkley on the calibrated score stream sees only that short burst (measured: it fires during
    // vtest as often as after the switch at lambda 5-20), so scene drift is the MMD detector's job.
    const ph = new PageHinkley({ delta: 0.05, threshold: 10 });
    const phHits = results.flatMap((r, i) => (ph.update(Number.isNaN(r.calibrated) ? 0.5 : r.calibrated).drift ? [i - a.length] : []));
    console.log(`Page-Hinkley (delta 0.05, lambda 10) on calibrated novelty: detections at ${phHits.join(',')} relative to the switch`);
  });
});
