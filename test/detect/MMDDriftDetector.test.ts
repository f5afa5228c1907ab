import { MMDDriftDetector } from '../../src/detect/MMDDriftDetector';
import { maxBlockStatistic, mmdPermutationTest, pairwiseSquaredDistances } from '../../src/detect/mmd';
import { Random } from '../../src/util/Random';

function gaussian(rng: Random, n: number, d: number, shift = 0): Float32Array[] {
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => rng.normal() + shift));
}

describe('mmdPermutationTest', () => {
  test('unbiased MMD^2 matches a direct computation (hand-sized example)', () => {
    const x = [[0], [1]];
    const y = [[3], [4], [6]];
    const r = mmdPermutationTest(x, y, { nPermutations: 10 });
    // Pooled squared distances: 1,9,16,36, 4,9,25, 1,9, 4 -> sorted median (10 values) = (9 + 9) / 2 = 9.
    const k = (a: number, b: number) => Math.exp(-((a - b) ** 2) / 9);
    const kxx = k(0, 1);
    const kyy = (k(3, 4) + k(3, 6) + k(4, 6)) / 3;
    let kxy = 0;
    for (const a of [0, 1]) for (const b of [3, 4, 6]) kxy += k(a, b) / 6;
    expect(r.sigma).toBeCloseTo(Math.sqrt(4.5), 10);
    expect(r.statistic).toBeCloseTo(kxx + kyy - 2 * kxy, 10);
  });

  test("'cross' bandwidth takes the median of the x-y distances only; a fixed sigma overrides the heuristic", () => {
    const x = [[0], [1]];
    const y = [[3], [4], [6]];
    // x-y squared distances: 9,16,36, 4,9,25 -> sorted 4,9,9,16,25,36 -> median (9 + 16) / 2 = 12.5 = 2 sigma^2.
    const mmd2 = (twoSigma2: number) => {
      const k = (a: number, b: number) => Math.exp(-((a - b) ** 2) / twoSigma2);
      let kxy = 0;
      for (const a of [0, 1]) for (const b of [3, 4, 6]) kxy += k(a, b) / 6;
      return k(0, 1) + (k(3, 4) + k(3, 6) + k(4, 6)) / 3 - 2 * kxy;
    };
    const cross = mmdPermutationTest(x, y, { nPermutations: 0, bandwidth: 'cross' });
    expect(cross.sigma).toBeCloseTo(2.5, 10);
    expect(cross.statistic).toBeCloseTo(mmd2(12.5), 10);
    const fixed = mmdPermutationTest(x, y, { nPermutations: 0, sigma: 1 });
    expect(fixed.sigma).toBe(1);
    expect(fixed.statistic).toBeCloseTo(mmd2(2), 10);
  });

  test('maxBlockStatistic equals the largest block-vs-rest mmdPermutationTest statistic; given distances change nothing', () => {
    const rng = new Random(11);
    const x = gaussian(rng, 40, 6).map((v, i) => v.map((a) => a + i / 20)); // drifting, so blocks differ
    const sigma = 1.7;
    let slow = -Infinity;
    for (let start = 0; start + 10 <= x.length; start += 5) {
      const block = x.slice(start, start + 10);
      const rest = [...x.slice(0, start), ...x.slice(start + 10)];
      slow = Math.max(slow, mmdPermutationTest(rest, block, { nPermutations: 0, sigma }).statistic);
    }
    expect(maxBlockStatistic(pairwiseSquaredDistances(x), x.length, 10, 5, sigma)).toBeCloseTo(slow, 10);
    expect(slow).toBeGreaterThan(0.1);
    // The same distances handed to the test give the same statistic and p-value as computing them there.
    const y = gaussian(rng, 10, 6);
    const own = mmdPermutationTest(x, y, { nPermutations: 50, rng: new Random(2), bandwidth: 'cross' });
    const given = mmdPermutationTest(x, y, { nPermutations: 50, rng: new Random(2), bandwidth: 'cross', xDistances: pairwiseSquaredDistances(x) });
    expect(given).toEqual(own);
    expect(() => mmdPermutationTest(x, y, { xDistances: new Float64Array(4) })).toThrow(/xDistances holds 4 values, expected 40 x 40/);
  });

  test('no shift: p-values roughly uniform, false alarms near alpha over many seeds', () => {
    const rng = new Random(42);
    const ps: number[] = [];
    for (let s = 0; s < 200; s++) ps.push(mmdPermutationTest(gaussian(rng, 30, 8), gaussian(rng, 30, 8), { nPermutations: 99, rng }).pValue);
    const rate = (a: number) => ps.filter((p) => p < a).length / ps.length;
    const mean = ps.reduce((a, b) => a + b, 0) / ps.length;
    console.log(`MMD null: mean p ${mean.toFixed(3)}, P(p<0.05) ${rate(0.05).toFixed(3)}, P(p<0.1) ${rate(0.1).toFixed(3)}, P(p<0.5) ${rate(0.5).toFixed(3)}`);
    expect(mean).toBeGreaterThan(0.4);
    expect(mean).toBeLessThan(0.6);
    // Binomial(200, 0.05): sd 0.015.
    expect(rate(0.05)).toBeLessThan(0.1);
    expect(rate(0.5)).toBeGreaterThan(0.38);
    expect(rate(0.5)).toBeLessThan(0.62);
  });

  test('a mean shift is detected with the smallest attainable p', () => {
    const rng = new Random(1);
    const r = mmdPermutationTest(gaussian(rng, 50, 16), gaussian(rng, 50, 16, 0.5), { nPermutations: 100, rng });
    expect(r.pValue).toBeCloseTo(1 / 101, 10);
    // |shift|^2 = 4 against a pooled median distance^2 of ~36: MMD^2 ~ 2 (1 - e^(-4/36)) ~ 0.07.
    expect(r.statistic).toBeGreaterThan(0.04);
  });

  test('block permutations keep the test valid on i.i.d. data', () => {
    const rng = new Random(9);
    let alarms = 0;
    for (let s = 0; s < 100; s++) {
      if (mmdPermutationTest(gaussian(rng, 40, 4), gaussian(rng, 40, 4), { nPermutations: 99, blockSize: 5, rng }).pValue < 0.05) alarms++;
    }
    expect(alarms).toBeLessThan(11);
  });
});

describe('MMDDriftDetector', () => {
  test('one event after a shift, none before, re-baselines instead of reporting it again', () => {
    const rng = new Random(5);
    const det = new MMDDriftDetector({ refSize: 50, testEvery: 10, alpha: 0.01, nPermutations: 100, minStatistic: 0.03, streamId: 'cam1', seed: 2 });
    const stream = [...gaussian(rng, 300, 16), ...gaussian(rng, 400, 16, 0.5)];
    const events = stream.flatMap((x, i) => det.update(x, { t: 1000 + i }).event ?? []);
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({ type: 'drift', method: 'mmd', streamId: 'cam1', threshold: 0.01, refSize: 50, recentSize: 50 });
    expect(e.index).toBeGreaterThanOrEqual(300);
    expect(e.index).toBeLessThan(350);
    expect(e.t).toBe(1000 + e.index);
    expect(e.pValue).toBeLessThan(0.01);
    // After the event the reference refills from post-drift data: back to 'reference' state.
    const det2 = new MMDDriftDetector({ refSize: 20, testEvery: 1, nPermutations: 100 });
    const r2 = new Random(8);
    let state = '';
    for (const x of [...gaussian(r2, 40, 4), ...gaussian(r2, 40, 4, 3)]) {
      const r = det2.update(x);
      if (r.drift) {
        state = det2.state;
        break;
      }
    }
    expect(state).toBe('reference');
  });

  test('tests only once both windows are full, every testEvery updates', () => {
    const rng = new Random(6);
    const det = new MMDDriftDetector({ refSize: 10, recentSize: 5, testEvery: 3 });
    const tested = gaussian(rng, 30, 3).map((x) => det.update(x).tested);
    const at = tested.flatMap((t, i) => (t ? [i] : []));
    expect(at).toEqual([14, 17, 20, 23, 26, 29]);
  });

  test('cooldown suppresses events for its length after one', () => {
    const rng = new Random(7);
    const det = new MMDDriftDetector({ refSize: 10, testEvery: 1, nPermutations: 100, cooldown: 100 });
    // Alternating distant clusters every 20 samples: without cooldown it would fire about every 20-30 updates.
    const stream = Array.from({ length: 150 }, (_, i) => gaussian(rng, 1, 4, Math.floor(i / 20) % 2 ? 5 : 0)[0]!);
    const idx = stream.flatMap((x, i) => (det.update(x).event ? [i] : []));
    expect(idx.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < idx.length; i++) expect(idx[i]! - idx[i - 1]!).toBeGreaterThan(100);
  });

  test('rejects an alpha the permutation count cannot reach', () => {
    expect(() => new MMDDriftDetector({ alpha: 0.005, nPermutations: 100 })).toThrow(/permutations/);
  });
});

describe('MMDDriftDetector re-embedding (teacher moved)', () => {
  test('payloads follow the windows and replaced embeddings are what the next test sees', () => {
    const d = new MMDDriftDetector<number>({ refSize: 4, recentSize: 3, testEvery: 1, alpha: 0.05, nPermutations: 50, seed: 1 });
    // ref: payloads 0..3, recent slides over 4..8 -> keeps 6, 7, 8
    for (let i = 0; i < 9; i++) d.update([i % 2, 1 - (i % 2)], { payload: i });
    expect(d.windowPayloads()).toEqual({ ref: [0, 1, 2, 3], recent: [6, 7, 8] });
    // a new "teacher" maps the reference far from the recent window: the next test must see it as drift
    const { ref, recent } = d.windowPayloads();
    d.replaceEmbeddings(
      ref.map(() => [10, 10]),
      recent.map((p) => [p! % 2, 1 - (p! % 2)]),
    );
    const r = d.update([0, 1], { payload: 9 });
    expect(r.tested).toBe(true);
    expect(r.statistic!).toBeGreaterThan(1);
    expect(() => d.replaceEmbeddings([[1, 1]], [])).toThrow(/windows hold/);
  });
});

describe('MMDDriftDetector payloads of an event', () => {
  test('a drift event carries the newest reference payload (before the change) and the triggering one (after)', () => {
    const rng = new Random(11);
    const d = new MMDDriftDetector<string>({ refSize: 20, recentSize: 10, testEvery: 1, nPermutations: 100, withinReference: false });
    const before = gaussian(rng, 20, 3).map((x, i) => d.update(x, { payload: `old${i}` }));
    expect(before.every((r) => r.payloads === undefined)).toBe(true);
    let fired;
    for (const [i, x] of gaussian(rng, 40, 3, 6).entries()) {
      const r = d.update(x, { payload: `new${i}` });
      if (r.event) {
        fired = { i, payloads: r.payloads };
        break;
      }
      expect(r.payloads).toBeUndefined();
    }
    expect(fired).toEqual({ i: expect.any(Number), payloads: { before: 'old19', after: `new${fired!.i}` } });
    expect(d.windowPayloads()).toEqual({ ref: [], recent: [] }); // re-baselined after the event
  });
});

describe('MMDDriftDetector scene-relative margin (withinReference)', () => {
  /**
   * A scene whose content moves periodically (people crossing a fixed view: consecutive frames are alike, a
   * 30-frame window differs from the rest), then a switch to another scene.
   */
  function scene(n: number, rng: Random, centre: number[]): number[][] {
    return Array.from({ length: n }, (_, i) => centre.map((v, j) => v + 0.3 * Math.sin((2 * Math.PI * i) / 50 + j) + 0.05 * rng.normal()));
  }

  test('within-scene motion fires the plain test but not the margin; a scene switch fires it once', () => {
    const rng = new Random(3);
    const sceneA = scene(300, rng, [0, 0, 0, 0]);
    const sceneB = scene(60, rng, [1, 1, 1, 1]);
    const run = (withinReference: boolean) => {
      const d = new MMDDriftDetector({ refSize: 120, recentSize: 30, testEvery: 5, alpha: 0.01, nPermutations: 100, withinReference, margin: 2, seed: 1 });
      const events: number[] = [];
      [...sceneA, ...sceneB].forEach((x, i) => {
        const r = d.update(x);
        if (r.event) {
          events.push(i);
          if (withinReference) expect(r.event.statistic).toBeGreaterThanOrEqual(2 * r.event.withinStatistic!);
        }
      });
      return events;
    };
    const plain = run(false);
    const relative = run(true);
    expect(plain.filter((i) => i < 300).length).toBeGreaterThan(0); // the p-value alone calls the motion drift
    expect(relative.filter((i) => i < 300)).toEqual([]);
    expect(relative.filter((i) => i >= 300)).toHaveLength(1);
    expect(relative[0]! - 300).toBeLessThan(30); // found within one recent window
  });

  test('a reference that keeps changing, then a far scene: missed with the pooled bandwidth, found with the cross one', () => {
    // Light changing through the reference (a ramp), then a switch to a far, spread-out scene. The pooled median is
    // mostly reference pairs (120 vs 30 frames), so the kernel stays at the reference's scale: the switch's MMD^2
    // saturates below twice the reference's own block statistic. The cross median follows the separation, and the
    // block statistic is taken with the same kernel.
    const rng = new Random(3);
    const sceneA = Array.from({ length: 150 }, (_, i) => [0, 0, 0, 0].map((_, j) => (i / 150) * (j % 2 ? 1 : -1) + 0.05 * rng.normal()));
    const sceneB = Array.from({ length: 100 }, () => [3, 3, 3, 3].map((v) => v + rng.normal()));
    const run = (bandwidth: 'pooled' | 'cross') => {
      const d = new MMDDriftDetector({ refSize: 120, recentSize: 30, testEvery: 5, alpha: 0.01, nPermutations: 100, withinReference: true, margin: 2, seed: 1, bandwidth });
      const events: number[] = [];
      [...sceneA, ...sceneB].forEach((x, i) => {
        const r = d.update(x);
        if (r.event) {
          events.push(i);
          expect(r.event.statistic).toBeGreaterThanOrEqual(2 * r.event.withinStatistic!);
        }
      });
      return events;
    };
    expect(run('pooled')).toEqual([]);
    const cross = run('cross');
    expect(cross).toHaveLength(1);
    expect(cross[0]!).toBeGreaterThanOrEqual(150);
    expect(cross[0]! - 150).toBeLessThan(30);
  });

  test('withinReference needs a reference at least twice the recent window', () => {
    expect(() => new MMDDriftDetector({ refSize: 50, recentSize: 30, withinReference: true })).toThrow(/refSize \(50\) >= 2 \* recentSize/);
  });
});
