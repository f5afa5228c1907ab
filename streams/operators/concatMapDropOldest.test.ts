import { from, map, of, range, throwError, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { concatMapDropOldest } from './concatMapDropOldest';
import { DropCounter } from '../DropCounter';
import { Frame } from '../Frame';
import { f } from '../../test/streams/marbleFrames';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('concatMapDropOldest', () => {
  it('fast producer, slow consumer: one at a time, the queue keeps the newest, drops are counted as they happen', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const v = { a: f('s', 0), b: f('s', 1), c: f('s', 2), d: f('s', 3), e: f('s', 4), g: f('s', 5) };
      const counter = new DropCounter();
      const src = cold('a 9ms b 9ms c 9ms d 9ms e 9ms g|', v);
      // each item takes the consumer 24 ms
      const slow = (x: Frame) => timer(24).pipe(map(() => x));
      expectObservable(src.pipe(concatMapDropOldest(slow, { capacity: 1, counter }))).toBe('24ms a 23ms c 23ms e 23ms (g|)', v);
      expectObservable(counter.changes$).toBe('a 19ms b 19ms c', { a: {}, b: { s: 1 }, c: { s: 2 } });
    });
  });

  it('when full, drops from the stream that holds most of the queue (a flood cannot evict a quiet stream)', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const v = { a: f('a', 0), b: f('y', 0), c: f('a', 1), d: f('a', 2), e: f('a', 3) };
      const counter = new DropCounter();
      const slow = (x: Frame) => timer(100).pipe(map(() => x));
      expectObservable(cold('abcde|', v).pipe(concatMapDropOldest(slow, { capacity: 2, counter }))).toBe('100ms a 99ms b 99ms (e|)', v);
      expectObservable(timer(400).pipe(map(() => counter.snapshot()))).toBe('400ms (x|)', { x: { a: 2 } });
    });
  });

  it('capacity 0 ignores what arrives while busy; synchronous consumers pass everything; errors propagate', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const v = { a: f('s', 0), b: f('s', 1), c: f('s', 2), d: f('s', 3) };
      const slow = (x: Frame) => timer(2).pipe(map(() => x));
      expectObservable(cold('ab-cd|', v).pipe(concatMapDropOldest(slow, { capacity: 0 }))).toBe('--a--(c|)', v);
      expectObservable(cold('abcd|', v).pipe(concatMapDropOldest((x) => of(x), { capacity: 0 }))).toBe('abcd|', v);
      expectObservable(cold('ab|', v).pipe(concatMapDropOldest(() => throwError(() => 'boom'), { capacity: 1 }))).toBe('#', v, 'boom');
    });
  });

  it('memory stays bounded under a burst of 100000 items with an async consumer', async () => {
    const counter = new DropCounter();
    const seen: number[] = [];
    await new Promise<void>((done) =>
      range(0, 100_000)
        .pipe(concatMapDropOldest((i: number) => from(new Promise<number>((r) => setTimeout(() => r(i), 1))), { capacity: 3, counter, key: () => 'burst' }))
        .subscribe({ next: (i) => seen.push(i), complete: () => done() }),
    );
    // the first item, then only the newest 3 survived the burst
    expect(seen).toEqual([0, 99_997, 99_998, 99_999]);
    expect(counter.get('burst')).toBe(100_000 - 4);
    expect(counter.total).toBe(100_000 - 4);
  });
});
