import { cosineSchedule, linearWarmupSchedule, momentumSchedule } from '../../src/train/schedules';

describe('schedules (official cosine_scheduler and teacher-temperature linspace, per step)', () => {
  test('cosine with warm-up: linspace warm-up including both ends, then the cosine, then hold', () => {
    const s = cosineSchedule({ base: 1, final: 0, totalSteps: 10, warmupSteps: 2 });
    expect(s(0)).toBe(0); // np.linspace(0, 1, 2) = [0, 1]
    expect(s(1)).toBe(1);
    expect(s(2)).toBeCloseTo(1, 12); // i = 0 of the cosine
    expect(s(6)).toBeCloseTo(0.5, 12); // i = 4 of 8: cos(pi/2) = 0
    expect(s(9)).toBeCloseTo(0.5 * (1 + Math.cos((7 * Math.PI) / 8)), 12); // the last scheduled value
    expect(s(1000)).toBe(s(9)); // a stream outlives the horizon: hold the last value
  });

  test('cosine with a 5-step warm-up from a start value', () => {
    const s = cosineSchedule({ base: 5e-4, final: 1e-6, totalSteps: 105, warmupSteps: 5, startWarmup: 1e-5 });
    [0, 1, 2, 3, 4].forEach((i) => expect(s(i)).toBeCloseTo(1e-5 + ((5e-4 - 1e-5) * i) / 4, 15));
    expect(s(55)).toBeCloseTo(1e-6 + 0.5 * (5e-4 - 1e-6) * (1 + Math.cos(Math.PI * 0.5)), 15);
  });

  test('weight decay 0.04 -> 0.4 and teacher momentum 0.996 -> 1 are cosines without warm-up', () => {
    const wd = cosineSchedule({ base: 0.04, final: 0.4, totalSteps: 100 });
    expect(wd(0)).toBeCloseTo(0.04, 12);
    expect(wd(50)).toBeCloseTo(0.22, 12);
    const m = momentumSchedule(0.996, 100);
    expect(m(0)).toBeCloseTo(0.996, 12);
    expect(m(25)).toBeCloseTo(1 + 0.5 * (0.996 - 1) * (1 + Math.cos(Math.PI / 4)), 12);
    expect(m(99)).toBeLessThan(1);
    expect(m(99)).toBeGreaterThan(0.99999);
  });

  test('teacher momentum with a final value below 1 ends there and holds it past the horizon', () => {
    const m = momentumSchedule(0.99, 100, 0.996);
    expect(m(0)).toBeCloseTo(0.99, 12);
    expect(m(50)).toBeCloseTo(0.996 + 0.5 * (0.99 - 0.996) * (1 + Math.cos(Math.PI / 2)), 12);
    expect(m(99)).toBeCloseTo(0.996 + 0.5 * (0.99 - 0.996) * (1 + Math.cos((Math.PI * 99) / 100)), 12);
    expect(m(10_000)).toBe(m(99));
    expect(m(10_000)).toBeLessThan(0.9961);
  });

  test('teacher temperature: linspace warm-up then constant', () => {
    const t = linearWarmupSchedule(0.04, 0.07, 4);
    expect([0, 1, 2, 3, 4, 100].map(t)).toEqual([0.04, 0.05, 0.06, 0.07, 0.07, 0.07].map((v) => expect.closeTo(v, 12)));
  });

  test('a horizon shorter than the warm-up is refused', () => {
    expect(() => cosineSchedule({ base: 1, final: 0, totalSteps: 5, warmupSteps: 5 })).toThrow(/must exceed/);
  });
});
