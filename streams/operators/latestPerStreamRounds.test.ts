import { map, of, throwError, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { latestPerStreamRounds } from './latestPerStreamRounds';
import type { Frame } from '../Frame';
import { f } from '../../test/streams/marbleFrames';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));
const ids = (frames: Frame[]) => frames.map((x) => `${x.streamId}${x.index}`).join(',');

describe('latestPerStreamRounds', () => {
  it("each round takes every stream's newest frame not taken before; a tick with nothing new starts no round", () => {
    newScheduler().run(({ hot, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1), x: f('x', 0), c: f('a', 2) };
      const frames = hot('-ab-x------c----|', v);
      const clock = hot('---t---t---t---t---', { t: 0 });
      // instant rounds: at 3 a1 (a0 superseded), at 7 x0, at 11 a2; the tick at 15 finds nothing new
      expectObservable(frames.pipe(latestPerStreamRounds(clock, (fs) => of(ids(fs))))).toBe('---r---s---u----|', { r: 'a1', s: 'x0', u: 'a2' });
    });
  });

  it('skips ticks while a round runs, and takes what arrived meanwhile at the next free tick (nothing is lost)', () => {
    newScheduler().run(({ hot, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1), x: f('x', 0) };
      const frames = hot('a-----x--b----------|', v);
      const clock = hot('-t-t-t-t-t-t-t-t-t-t-t', { t: 0 });
      // a round takes 5 ms: the round of tick 1 runs 1-6, ticks 3 and 5 are skipped, x0 (arrived at 6, during no
      // tick) is taken at 7; that round runs 7-12, skipping 9 and 11; a1 (arrived at 9) is taken at 13
      const slow = (fs: Frame[]) => timer(5).pipe(map(() => ids(fs)));
      expectObservable(frames.pipe(latestPerStreamRounds(clock, slow))).toBe('------r-----s-----u-|', { r: 'a0', s: 'x0', u: 'a1' });
    });
  });

  it('completes after the running round when the source completes; errors of the source or a round pass through', () => {
    newScheduler().run(({ hot, cold, expectObservable }) => {
      const v = { a: f('a', 0) };
      const clock = hot('-t-t-t-t', { t: 0 });
      const slow = (fs: Frame[]) => timer(3).pipe(map(() => ids(fs)));
      expectObservable(cold('a-|', v).pipe(latestPerStreamRounds(clock, slow))).toBe('----(r|)', { r: 'a0' });
      expectObservable(cold('a-#', v).pipe(latestPerStreamRounds(clock, slow))).toBe('--#');
      expectObservable(cold('a---', v).pipe(latestPerStreamRounds(clock, () => throwError(() => 'boom')))).toBe('-#', undefined, 'boom');
    });
  });

  it('a forgotten stream leaves the next round: its newest frame is dropped, the others are taken', () => {
    newScheduler().run(({ hot, expectObservable }) => {
      const v = { a: f('a', 0), x: f('x', 0), b: f('a', 1) };
      const frames = hot('-ax-----b---|', v);
      const clock = hot('----t---t---t', { t: 0 });
      const forget = hot('---k', { k: 'x' });
      expectObservable(frames.pipe(latestPerStreamRounds(clock, (fs) => of(ids(fs)), { forget$: forget }))).toBe('----r---s---|', { r: 'a0', s: 'a1' });
    });
  });

  it('select bounds a round: the items it leaves wait for a later round (or are superseded by newer ones)', () => {
    newScheduler().run(({ hot, expectObservable }) => {
      const v = { a: f('a', 0), x: f('x', 0), y: f('y', 0), b: f('a', 1), z: f('x', 1) };
      const frames = hot('-axy--b-z-----|', v);
      const clock = hot('----t---t---t---', { t: 0 });
      // 'a' always; at most one other stream per round, the first waiting
      const select = (items: Frame[]) => [...items.filter((i) => i.streamId === 'a'), ...items.filter((i) => i.streamId !== 'a').slice(0, 1)];
      // tick 4: a0 + x0 (y0 waits); tick 8: a1 + y0 (y waited longer than x, whose x1 is new too); tick 12: x1
      expectObservable(frames.pipe(latestPerStreamRounds(clock, (fs) => of(ids(fs)), { select }))).toBe('----r---s---u-|', { r: 'a0,x0', s: 'a1,y0', u: 'x1' });
    });
  });
});
