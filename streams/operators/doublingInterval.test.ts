import { take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { doublingInterval } from './doublingInterval';

describe('doublingInterval', () => {
  it('waits firstMs, then gaps doubling up to maxMs, then maxMs each time', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ expectObservable }) => {
      // gaps 5, 10, 20, 30, 30: emissions at 5, 15, 35, 65, 95
      expectObservable(doublingInterval(5, 30, ts).pipe(take(5))).toBe('5ms a 9ms b 19ms c 29ms d 29ms (e|)', { a: 0, b: 1, c: 2, d: 3, e: 4 });
    });
  });

  it('rejects gaps that are not positive or a maximum below the first gap', () => {
    expect(() => doublingInterval(0, 10)).toThrow(/firstMs/);
    expect(() => doublingInterval(10, 5)).toThrow(/firstMs/);
  });
});
