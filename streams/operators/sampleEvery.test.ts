import { TestScheduler } from 'rxjs/testing';
import { sampleEvery } from './sampleEvery';
import { f } from '../../test/streams/marbleFrames';

describe('sampleEvery', () => {
  it('keeps every n-th frame of each stream, counting streams separately', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ hot, expectObservable, expectSubscriptions }) => {
      const v = {
        a: f('a', 0), b: f('a', 1), c: f('a', 2), d: f('a', 3), e: f('a', 4), g: f('a', 5), h: f('a', 6),
        x: f('x', 0), y: f('x', 1), z: f('x', 2), w: f('x', 3),
      };
      const src = hot('-a-x-b-c-y-d-z-e-g-w-h-|', v);
      expectObservable(src.pipe(sampleEvery(3))).toBe('-a-x-------d-------w-h-|', v);
      expectSubscriptions(src.subscriptions).toBe('^----------------------!');
    });
  });

  it('n = 1 passes everything; errors pass through', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1) };
      expectObservable(cold('ab#', v).pipe(sampleEvery(1))).toBe('ab#', v);
    });
    expect(() => sampleEvery(0)).toThrow(/n must be/);
  });
});
