import { TestScheduler } from 'rxjs/testing';
import { fairMix } from './fairMix';
import { DropCounter } from '../DropCounter';
import { Frame } from '../Frame';
import { f } from '../../test/streams/marbleFrames';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('fairMix', () => {
  it('a flooding stream and a slow one get one frame each per round; the round leader rotates; drops counted', () => {
    const ts = newScheduler();
    ts.run(({ hot, expectObservable }) => {
      // stream a: a frame every 2 ms; stream y: one at 6 and one at 16
      const v = {
        a: f('a', 0), b: f('a', 1), c: f('a', 2), d: f('a', 3), e: f('a', 4), g: f('a', 5), h: f('a', 6),
        i: f('a', 7), j: f('a', 8), k: f('a', 9), X: f('y', 0), Y: f('y', 1),
      };
      const counter = new DropCounter();
      const src = hot('-a-b-cXd-e-g-h-iYj-k|', v);
      // rounds at 11 and 23 (the first starts 10 ms after the first frame); freshest frame per stream
      expectObservable(src.pipe(fairMix({ periodMs: 10, counter, scheduler: ts }))).toBe('-----------(gX) 8ms (Yk|)', v);
      ts.schedule(() => expect(counter.snapshot()).toEqual({ a: 8 }), 30);
    });
  });

  it('capacityPerStream > 1 keeps a FIFO per stream and drains one per round', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1), c: f('a', 2), x: f('x', 0) };
      expectObservable(cold('(abcx|)', v).pipe(fairMix({ periodMs: 5, capacityPerStream: 2, scheduler: ts }))).toBe('-----(bx) 1ms (c|)', v);
    });
  });

  it('passes errors through and validates options', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold<Frame>('-#').pipe(fairMix({ periodMs: 5 }))).toBe('-#');
    });
    expect(() => fairMix({ periodMs: 0 })).toThrow(/periodMs/);
  });

  it('a forgotten stream loses its queue: what waited there is not emitted', () => {
    const ts = newScheduler();
    ts.run(({ cold, hot, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1), x: f('x', 0) };
      const forget = hot('--k', { k: 'x' });
      expectObservable(cold('(ax) 6ms b|', v).pipe(fairMix({ periodMs: 5, scheduler: ts, forget$: forget }))).toBe('-----a 9ms (b|)', v);
    });
  });
});
