import { firstValueFrom, map, take, tap, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { Frame } from '../../streams/Frame';
import { SyntheticCamera } from '../../streams/sources/SyntheticCamera';

/** Mean RGB and an 8-bin-per-channel histogram (normalised). */
function stats(rgb: Uint8Array): { mean: number[]; hist: number[] } {
  const mean = [0, 0, 0];
  const hist = new Array<number>(24).fill(0);
  for (let i = 0; i < rgb.length; i++) {
    mean[i % 3]! += rgb[i]!;
    hist[(i % 3) * 8 + (rgb[i]! >> 5)]! += 1;
  }
  const px = rgb.length / 3;
  return { mean: mean.map((m) => m / px), hist: hist.map((v) => v / px) };
}
const l1 = (a: number[], b: number[]) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0);

describe('SyntheticCamera', () => {
  it('is deterministic for a seed, differs across seeds, and moves', () => {
    const a = new SyntheticCamera({ streamId: 'a', width: 96, height: 96, seed: 7 });
    const b = new SyntheticCamera({ streamId: 'b', width: 96, height: 96, seed: 7 });
    const c = new SyntheticCamera({ streamId: 'c', width: 96, height: 96, seed: 8 });
    for (const i of [0, 1, 37]) {
      for (const k of [0, 3]) expect(Buffer.from(a.render(i, k)).equals(Buffer.from(b.render(i, k)))).toBe(true);
      expect(Buffer.from(a.render(i)).equals(Buffer.from(c.render(i)))).toBe(false);
    }
    // consecutive frames differ (motion + noise) but stay close (same scene)
    const f0 = a.render(10);
    const f1 = a.render(11);
    let diff = 0;
    for (let i = 0; i < f0.length; i++) diff += Math.abs(f0[i]! - f1[i]!);
    expect(diff / f0.length).toBeGreaterThan(1);
    expect(l1(stats(f0).hist, stats(f1).hist)).toBeLessThan(0.5);
  });

  it('a scene change shifts pixel statistics far more than time within a scene does', () => {
    const cam = new SyntheticCamera({ streamId: 's', width: 64, height: 48, seed: 1 });
    for (const [k0, k1] of [
      [0, 1],
      [1, 2],
      [2, 3],
      [0, 4],
    ] as const) {
      const within: number[] = [];
      const across: number[] = [];
      for (let i = 0; i < 20; i += 2) {
        const s0 = stats(cam.render(i, k0));
        within.push(l1(s0.hist, stats(cam.render(i + 25, k0)).hist));
        across.push(l1(s0.hist, stats(cam.render(i + 25, k1)).hist));
      }
      const maxWithin = Math.max(...within);
      const minAcross = Math.min(...across);
      expect(minAcross).toBeGreaterThan(3 * maxWithin);
      expect(minAcross).toBeGreaterThan(0.5); // histograms (sum 3) overlap much less
    }
  });

  it('emits frames at its fps on the scheduler and applies setScene from the next frame', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ expectObservable, flush }) => {
      const cam = new SyntheticCamera({ streamId: 'v', width: 16, height: 12, fps: 10, seed: 3, scheduler: ts });
      const got: Frame[] = [];
      ts.schedule(() => cam.setScene(2), 250);
      // One subscriber only: frames$ is shared (hot), a second one would join late and miss frame 0.
      expectObservable(
        cam.frames$.pipe(
          take(4),
          tap((f) => got.push(f)),
          map((f) => `${f.index}@${f.t}`),
        ),
      ).toBe('a 99ms b 99ms c 99ms (d|)', { a: '0@0', b: '1@100', c: '2@200', d: '3@300' });
      flush();
            expect(got.map((f) => [f.width, f.height, f.rgb.length])).toEqual(new Array(4).fill([16, 12, 16 * 12 * 3]));
      expect(Buffer.from(got[2]!.rgb).equals(Buffer.from(cam.render(2, 0)))).toBe(true);
      expect(Buffer.from(got[3]!.rgb).equals(Buffer.from(cam.render(3, 2)))).toBe(true);
    });
  });

  it('with sceneEverySec moves on to the next of the four scenes every that many seconds of frames', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ expectObservable }) => {
      const cam = new SyntheticCamera({ streamId: 'v', width: 8, height: 8, fps: 10, seed: 3, scene: 2, sceneEverySec: 0.2, scheduler: ts });
      // two frames per scene: 2, 2, 3, 3, 0, 0, 1 (after scene 3 comes scene 0)
      expectObservable(cam.frames$.pipe(take(7), map(() => String(cam.scene)))).toBe('a 99ms a 99ms b 99ms b 99ms c 99ms c 99ms (d|)', {
        a: '2',
        b: '3',
        c: '0',
        d: '1',
      });
    });
  });

  it('on the real clock, each subscription starts at frame 0', async () => {
    const cam = new SyntheticCamera({ streamId: 'p', width: 16, height: 16, fps: 100, seed: 1 });
    const frames = await firstValueFrom(cam.frames$.pipe(take(3), toArray()));
    expect(frames.map((f) => f.index)).toEqual([0, 1, 2]);
    expect(Buffer.from(frames[2]!.rgb).equals(Buffer.from(cam.render(2)))).toBe(true);
  });
});
