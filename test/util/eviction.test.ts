import { oldestSlot, reservoirSlot } from '../../src/util/eviction';
import { Random } from '../../src/util/Random';

describe('eviction rules', () => {
  it('reservoirSlot keeps every item of a stream with the same probability, held / seen', () => {
    const rng = new Random(5);
    const held = 5;
    const n = 50;
    const trials = 4000;
    const kept = new Array<number>(n).fill(0);
    for (let t = 0; t < trials; t++) {
      const store: number[] = [];
      for (let i = 0; i < n; i++) {
        if (store.length < held) store.push(i);
        else {
          const slot = reservoirSlot(rng, i + 1, held);
          if (slot >= 0) store[slot] = i;
        }
      }
      for (const i of store) kept[i]!++;
    }
    // each item: expected trials * held / n = 400, binomial sd ~19; the first and the last alike
    for (const k of kept) expect(Math.abs(k - (trials * held) / n)).toBeLessThan(80);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(trials * held);
  });

  it('reservoirSlot turns the newcomer away (-1) exactly when the draw falls past the held items', () => {
    const a = new Random(9);
    const b = new Random(9);
    for (let seen = 1; seen < 200; seen++) {
      const j = b.int(seen);
      expect(reservoirSlot(a, seen, 10)).toBe(j < 10 ? j : -1);
    }
  });

  it('oldestSlot is the smallest sequence number among the included indices (-1 when none is)', () => {
    const seq = [7, 3, 9, 3, 1];
    expect(oldestSlot(seq.length, (i) => seq[i]!)).toBe(4);
    expect(oldestSlot(seq.length, (i) => seq[i]!, (i) => i < 4)).toBe(1); // the first of two equal ones
    expect(oldestSlot(seq.length, (i) => seq[i]!, (i) => i === 2)).toBe(2);
    expect(oldestSlot(seq.length, (i) => seq[i]!, () => false)).toBe(-1);
    expect(oldestSlot(0, () => 0)).toBe(-1);
  });
});
