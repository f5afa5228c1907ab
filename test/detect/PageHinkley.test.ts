import * as fs from 'fs';
import * as path from 'path';
import { PageHinkley } from '../../src/detect/PageHinkley';

describe('PageHinkley', () => {
  test("River's documented example: change detected at index 1006, input value 5", () => {
    // fixtures/river_page_hinkley_stream.txt is River's example stream, generated with CPython:
    //   rng = random.Random(12345); rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    const stream = Array.from(fs.readFileSync(path.join(__dirname, 'fixtures/river_page_hinkley_stream.txt'), 'utf8').trim(), Number);
    expect(stream).toHaveLength(2000);
    const ph = new PageHinkley();
    const hits: [number, number][] = [];
    stream.forEach((x, i) => {
      if (ph.update(x).drift) hits.push([i, x]);
    });
    expect(hits).toEqual([[1006, 5]]);
  });

  test('hand-made step 0 -> 1 at index 100 is detected at 105 with lambda 5 (worked out below)', () => {
    // After the step, the j-th value adds dev - delta = 1 - j/(100+j) - 0.005 to the sum while min stays
    // at its pre-step value: j = 1..5 sum to 4.83 (< 5), j = 6 brings 5.77 (> 5), i.e. index 105.
    const seq = [...Array(100).fill(0), ...Array(100).fill(1)];
    for (const mode of ['up', 'both'] as const) {
      const ph = new PageHinkley({ threshold: 5, mode });
      const hits = seq.flatMap((x, i) => (ph.update(x).drift ? [i] : []));
      expect(hits).toEqual([105]);
    }
    const down = new PageHinkley({ threshold: 5, mode: 'down' });
    expect(seq.some((x) => down.update(x).drift)).toBe(false);
    const stepDown = [...Array(100).fill(1), ...Array(100).fill(0)];
    const ph = new PageHinkley({ threshold: 5, mode: 'down' });
    expect(stepDown.flatMap((x, i) => (ph.update(x).drift ? [i] : []))).toEqual([105]);
  });

  test('no detection before minInstances; state resets on the update after a detection', () => {
    const ph = new PageHinkley({ threshold: 1, minInstances: 30 });
    const seq = [0, 0, 0, 0, 0, ...Array(40).fill(10)];
    const results = seq.map((x, i) => ({ i, ...ph.update(x, { t: i * 100 }) }));
    const first = results.find((r) => r.drift)!;
    expect(first.i).toBe(29); // statistic crossed long before, but n reaches 30 only here
    expect(results[28]!.statistic).toBeGreaterThan(1);
    expect(first.event).toMatchObject({ type: 'drift', method: 'page-hinkley', t: 2900, threshold: 1, index: 29 });
    expect(results[30]!.n).toBe(1); // fresh state
    expect(results[30]!.drift).toBe(false);
  });

  test('a constant stream never drifts', () => {
    const ph = new PageHinkley({ threshold: 5, minInstances: 1 });
    let drifts = 0;
    for (let i = 0; i < 10000; i++) if (ph.update(0.3).drift) drifts++;
    expect(drifts).toBe(0);
  });
});
