import { TestScheduler } from 'rxjs/testing';
import { throttleFps } from './throttleFps';
import { f } from '../../test/streams/marbleFrames';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('throttleFps', () => {
  it('passes at most fps frames per second per stream, each stream on its own clock', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      // stream a every 50 ms (20 fps), stream b every 100 ms; limit 10 fps
      const v = {
        a: f('a', 0), b: f('a', 1), c: f('a', 2), d: f('a', 3), e: f('a', 4),
        x: f('b', 0), y: f('b', 1), z: f('b', 2),
      };
      const src = cold('(ax) 46ms b 49ms (cy) 46ms d 49ms (ez|)', v);
      expectObservable(src.pipe(throttleFps(10))).toBe('(ax) 96ms (cy) 96ms (ez|)', v);
    });
  });

  it('keeps the average rate for a camera that is not a multiple of the limit (15 -> 10 fps, not 7.5)', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      // frames every ~66.7 ms as a camera would deliver them (0, 67, 133, 200, 267, 333, 400)
      const v = { a: f('a', 0), b: f('a', 1), c: f('a', 2), d: f('a', 3), e: f('a', 4), g: f('a', 5), h: f('a', 6) };
      const src = cold('a 66ms b 65ms c 66ms d 66ms e 65ms g 66ms h|', v);
      // passes 0, 133, 200, 333, 400: 5 frames in 400 ms, the pacing of 10 fps
      expectObservable(src.pipe(throttleFps(10))).toBe('a 132ms c 66ms d 132ms g 66ms h|', v);
    });
  });

  it('lets at most one extra frame through after an idle gap (bounded burst)', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1), c: f('a', 2), d: f('a', 3), e: f('a', 4) };
      const src = cold('a 999ms b 9ms c 9ms d 9ms e|', v);
      expectObservable(src.pipe(throttleFps(10))).toBe('a 999ms b 9ms c 20ms |', v);
    });
  });

  it('takes a rate per stream when fps is a function of the stream id', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      // both streams every 50 ms; a is limited to 10 fps, b to 20 (passes all)
      const v = { a: f('a', 0), b: f('a', 1), c: f('a', 2), x: f('b', 0), y: f('b', 1), z: f('b', 2) };
      const src = cold('(ax) 46ms (by) 46ms (cz|)', v);
      expectObservable(src.pipe(throttleFps((id) => (id === 'a' ? 10 : 20)))).toBe('(ax) 46ms y 49ms (cz|)', v);
    });
  });

  it('rejects a non-positive rate', () => {
    expect(() => throttleFps(0)).toThrow(/fps/);
  });

  it('a forgotten stream loses its pacing state: its next frame passes as a first frame would', () => {
    newScheduler().run(({ cold, hot, expectObservable }) => {
      const v = { a: f('a', 0), b: f('a', 1), c: f('a', 2), x: f('x', 0), y: f('x', 1) };
      const forget = hot('20ms k', { k: 'a' });
      // at 10 fps a1 (50 ms after a0) would be dropped; after forgetting 'a' at 20 ms it passes; x keeps its clock
      expectObservable(cold('(ax) 49ms (by) 9ms c|', v).pipe(throttleFps(10, { forget$: forget }))).toBe('(ax) 49ms b 13ms |', v);
    });
  });
});
