import { map, of, throwError, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batchWhileBusy } from './batchWhileBusy';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('batchWhileBusy', () => {
  it('starts a batch at once when idle, and gives the next batch everything that arrived meanwhile, in order', () => {
    newScheduler().run(({ hot, expectObservable }) => {
      const items = hot('abcd----------e|');
      // a batch takes 4 ms: [a] runs 0-4, b c d arrive meanwhile and run 4-8 together; e at 14 runs alone
      const slow = (b: string[]) => timer(4).pipe(map(() => b.join('')));
      expectObservable(items.pipe(batchWhileBusy(8, slow))).toBe('----x---y---------(z|)', { x: 'a', y: 'bcd', z: 'e' });
    });
  });

  it('takes at most maxBatch items per batch, oldest first, and loses none', () => {
    newScheduler().run(({ hot, expectObservable }) => {
      const items = hot('abcde|');
      const slow = (b: string[]) => timer(2).pipe(map(() => b.join('')));
      expectObservable(items.pipe(batchWhileBusy(2, slow))).toBe('--x-y-(z|)', { x: 'a', y: 'bc', z: 'de' });
    });
  });

  it('with instant work every item is its own batch; errors of the source or of a batch pass through', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('ab|').pipe(batchWhileBusy(4, (b: string[]) => of(b.join(''))))).toBe('ab|');
      expectObservable(cold('a-#').pipe(batchWhileBusy(4, (b: string[]) => of(b.join(''))))).toBe('a-#');
      expectObservable(cold('a--').pipe(batchWhileBusy(4, () => throwError(() => 'boom')))).toBe('#', undefined, 'boom');
    });
  });

  it('refuses a batch size that is not a positive integer', () => {
    expect(() => batchWhileBusy(0, () => of(1))).toThrow(/positive integer/);
  });
});
