import * as fs from 'fs';
import * as path from 'path';
import { ADWIN } from '../../src/detect/ADWIN';
import { Random } from '../../src/util/Random';

describe('ADWIN', () => {
  test("River's documented example: change detected at index 1023, input value 4", () => {
    // Same stream as River's example (see PageHinkley.test.ts for how the fixture was generated).
    const stream = Array.from(fs.readFileSync(path.join(__dirname, 'fixtures/river_page_hinkley_stream.txt'), 'utf8').trim(), Number);
    const adwin = new ADWIN();
    const hits: [number, number][] = [];
    stream.forEach((x, i) => {
      if (adwin.update(x).drift) hits.push([i, x]);
    });
    expect(hits).toEqual([[1023, 4]]);
  });

  test('window grows on a stationary stream, shrinks to the new regime after a change', () => {
    const rng = new Random(1);
    const adwin = new ADWIN();
    let drifts = 0;
    for (let i = 0; i < 3000; i++) if (adwin.update(rng.normal() * 0.1 + 0.2).drift) drifts++;
    expect(drifts).toBe(0);
    const r = adwin.update(0.2);
    expect(r.width).toBe(3001);
    expect(r.estimation).toBeCloseTo(0.2, 2);
    let at = -1;
    for (let i = 0; i < 500 && at < 0; i++) if (adwin.update(rng.normal() * 0.1 + 0.5).drift) at = i;
    expect(at).toBeGreaterThanOrEqual(0);
    // Cuts are only tested every 32 updates and at bucket boundaries (River skips each row's newest bucket):
    // a 3-sigma shift after 3000 values was measured to be caught 135 values in.
    expect(at).toBeLessThan(200);
  });
});
