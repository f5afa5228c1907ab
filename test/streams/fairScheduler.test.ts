import { FairScheduler } from '../../streams/sources/FairScheduler';

/** A job that records when it starts and finishes only when the test releases it. */
function jobs() {
  const started: string[] = [];
  const release = new Map<string, () => void>();
  const make = (name: string) => () =>
    new Promise<void>((resolve) => {
      started.push(name);
      release.set(name, resolve);
    });
  const finish = async (name: string) => {
    release.get(name)!();
    for (let i = 0; i < 5; i++) await Promise.resolve(); // let finally() and the next kick run
  };
  return { started, make, finish };
}

describe('FairScheduler', () => {
  it('serves the best-ranked client first, one job per client at a time, in order', async () => {
    const rank = new Map([['good', 0], ['bad', 0.9]]);
    const s = new FairScheduler<string>(1, (c) => rank.get(c)!);
    const { started, make, finish } = jobs();
    const lim = { jobs: 10, bytes: 1e9 };
    s.enqueue('bad', make('b1'), 1, lim);
    s.enqueue('bad', make('b2'), 1, lim);
    s.enqueue('good', make('g1'), 1, lim);
    s.enqueue('good', make('g2'), 1, lim);
    expect(started).toEqual(['b1']); // the slot was free
    await finish('b1');
    await finish('g1');
    await finish('g2');
    expect(started).toEqual(['b1', 'g1', 'g2', 'b2']);
  });

  it('equal ranks take turns, whoever sends more', async () => {
    const s = new FairScheduler<string>(1, () => 0);
    const { started, make, finish } = jobs();
    const lim = { jobs: 10, bytes: 1e9 };
    s.enqueue('x', make('x0'), 1, lim);
    for (let i = 1; i <= 4; i++) s.enqueue('a', make(`a${i}`), 1, lim);
    s.enqueue('b', make('b1'), 1, lim);
    s.enqueue('b', make('b2'), 1, lim);
    for (const n of ['x0', 'a1', 'b1', 'a2', 'b2', 'a3']) await finish(n);
    expect(started).toEqual(['x0', 'a1', 'b1', 'a2', 'b2', 'a3', 'a4']);
  });

  it('drops the oldest waiting job beyond the job or byte limit, and says so', () => {
    const s = new FairScheduler<string>(1, () => 0);
    const { started, make } = jobs();
    const dropped: number[] = [];
    s.enqueue('c', make('running'), 1, { jobs: 2, bytes: 1e9 });
    for (let i = 1; i <= 4; i++) s.enqueue('c', make(`j${i}`), 1, { jobs: 2, bytes: 1e9 }, () => dropped.push(i));
    expect(dropped).toEqual([3, 4]); // j1 then j2 went when j3 and j4 came
    expect(s.waiting).toBe(2);
    s.enqueue('d', make('big1'), 600, { jobs: 10, bytes: 1000 });
    s.enqueue('d', make('big2'), 600, { jobs: 10, bytes: 1000 }, () => dropped.push(-1));
    expect(dropped).toEqual([3, 4, -1]);
    expect(started).toEqual(['running']);
  });

  it('clients ranked low never hold the last slot: a good job starts at once', async () => {
    const rank = new Map([['bad1', 0.9], ['bad2', 0.8], ['good', 0]]);
    const s = new FairScheduler<string>(2, (c) => rank.get(c)!, 0.5);
    const { started, make, finish } = jobs();
    const lim = { jobs: 10, bytes: 1e9 };
    s.enqueue('bad1', make('b1'), 1, lim);
    s.enqueue('bad2', make('c1'), 1, lim);
    expect(started).toEqual(['b1']); // the second slot is kept
    s.enqueue('good', make('g1'), 1, lim);
    expect(started).toEqual(['b1', 'g1']);
    await finish('b1');
    expect(started).toEqual(['b1', 'g1', 'c1']);
    s.cancel('bad2');
    expect(s.waiting).toBe(0);
  });
});
