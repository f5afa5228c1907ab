import { CollapseMonitor, CollapseMonitors } from '../../src/detect/CollapseMonitor';
import type { CollapseEvent } from '../../src/detect/DetectorEvent';

const LN = Math.log(4096);
const DIM = 192;
const healthy: CollapseMonitors = { loss: 6.1, teacherEntropy: 3.2, embeddingStd: 1 / Math.sqrt(DIM), lnOutDim: LN, dim: DIM };
const uniform: CollapseMonitors = { ...healthy, loss: LN - 0.01, teacherEntropy: LN - 0.05 };
const oneHot: CollapseMonitors = { ...healthy, loss: 0.02, teacherEntropy: 0.001 };
const pointCollapse: CollapseMonitors = { ...healthy, embeddingStd: 0.001 };

function run(mon: CollapseMonitor, seq: CollapseMonitors[]): { events: CollapseEvent[]; at: number[] } {
  const events: CollapseEvent[] = [];
  const at: number[] = [];
  seq.forEach((m, i) => {
    const e = mon.update(m).event;
    if (e) (events.push(e), at.push(i));
  });
  return { events, at };
}

const times = (m: CollapseMonitors, n: number) => Array(n).fill(m) as CollapseMonitors[];

describe('CollapseMonitor', () => {
  test('healthy training raises nothing', () => {
    const mon = new CollapseMonitor({ patience: 10 });
    expect(run(mon, times(healthy, 500)).events).toHaveLength(0);
    expect(mon.collapsed).toBe(false);
  });

  test.each([
    ['uniform collapse', uniform, ['uniform-loss', 'uniform-entropy']],
    ['one-hot collapse', oneHot, ['one-hot-entropy']],
    ['collapse to one point', pointCollapse, ['low-std']],
  ])('%s raises once after patience, clears once when healthy', (_name, bad, reasons) => {
    const mon = new CollapseMonitor({ patience: 10, recoveryPatience: 5 });
    const { events, at } = run(mon, [...times(healthy, 20), ...times(bad, 100), ...times(healthy, 50)]);
    expect(at).toEqual([29, 124]); // 10th bad step; 5th healthy step
    expect(events[0]).toMatchObject({ type: 'collapse', active: true, reasons, raised: reasons, cleared: [] });
    expect(events[0]!.message).toMatch(/collapse/);
    expect(events[1]).toMatchObject({ active: false, reasons: [], raised: [], cleared: reasons });
  });

  test('a bad streak shorter than patience does not raise', () => {
    const mon = new CollapseMonitor({ patience: 10 });
    const seq = [...times(uniform, 9), healthy, ...times(uniform, 9), healthy];
    expect(run(mon, seq).events).toHaveLength(0);
  });

  test('a new reason while collapsed is a state change (one event), a repeated state is not', () => {
    const mon = new CollapseMonitor({ patience: 3 });
    const both = { ...uniform, embeddingStd: 0.001 };
    const { events } = run(mon, [...times(uniform, 10), ...times(both, 10)]);
    expect(events.map((e) => e.raised)).toEqual([['uniform-loss', 'uniform-entropy'], ['low-std']]);
    expect(events[1]!.reasons).toEqual(['uniform-loss', 'uniform-entropy', 'low-std']);
  });

  test('non-finite loss raises at once; warm-up steps are ignored', () => {
    const mon = new CollapseMonitor({ patience: 10, warmupSteps: 50 });
    const { at, events } = run(mon, [...times(uniform, 50), { ...healthy, loss: NaN }]);
    expect(at).toEqual([50]);
    expect(events[0]!.raised).toEqual(['non-finite']);
  });

  test('std threshold scales with 1/sqrt(d)', () => {
    const mon = new CollapseMonitor({ stdFraction: 0.2 });
    expect(mon.check({ ...healthy, embeddingStd: 0.19 / Math.sqrt(DIM) })).toEqual(['low-std']);
    expect(mon.check({ ...healthy, embeddingStd: 0.21 / Math.sqrt(DIM) })).toEqual([]);
  });
});
