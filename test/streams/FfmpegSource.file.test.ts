import { lastValueFrom, Subscription, toArray } from 'rxjs';
import { resolve } from 'path';
import { CameraState } from '../../streams/CameraState';
import { Frame } from '../../streams/Frame';
import { FfmpegSource } from '../../streams/sources/FfmpegSource';
import { liveChildPids } from '../../streams/sources/childProcess';
import { silentLogger } from '../../src/util/Logger';
import { waitFor } from './waitFor';
import { requireTool } from '../helpers/requireTool';
import { sharedData } from '../helpers/sharedData';

const VTEST = sharedData('video/vtest_h264.mp4'); // 768x576, 10 fps, 795 frames

requireTool('ffmpeg')('FfmpegSource on a video file', () => {
  afterAll(() => expect(liveChildPids()).toEqual([]));

  it.each([
    [undefined, 795],
    [5, 398],
  ])('fps %p: right size and frame count, then completes', async (fps, count) => {
    const src = new FfmpegSource({ streamId: 'vtest', url: VTEST, width: 48, height: 36, fps, logger: silentLogger });
    const states: CameraState[] = [];
    src.state$.subscribe((s) => states.push(s));
    const frames = await lastValueFrom(src.frames$.pipe(toArray()));
    expect(frames.length).toBe(count);
    for (const f of frames) expect([f.streamId, f.width, f.height, f.rgb.length]).toEqual(['vtest', 48, 36, 48 * 36 * 3]);
    expect(frames.map((f) => f.index)).toEqual(frames.map((_, i) => i));
    // real picture: bright campus scene; consecutive frames similar but not equal (people walk)
    const mean = (f: Frame) => f.rgb.reduce((a, b) => a + b, 0) / f.rgb.length;
    expect(mean(frames[0]!)).toBeGreaterThan(50);
    const d = frames[100]!.rgb.reduce((a, v, i) => a + Math.abs(v - frames[101]!.rgb[i]!), 0) / frames[100]!.rgb.length;
    expect(d).toBeGreaterThan(0.1);
    expect(d).toBeLessThan(20);
    expect(states.map((s) => s.state)).toEqual(['connecting', 'live', 'ended']);
    expect(src.args()).toEqual(expect.arrayContaining(['-f', 'rawvideo', '-pix_fmt', 'rgb24']));
    await src.whenStopped();
  });

  it('realtime + loop make a file behave like a camera (frames paced at about fps, no end)', async () => {
    const src = new FfmpegSource({ streamId: 'live', url: VTEST, width: 32, height: 24, fps: 10, realtime: true, loop: true, logger: silentLogger });
    expect(src.args()).toEqual(expect.arrayContaining(['-re', '-stream_loop', '-1']));
    const got: Frame[] = [];
    let completed = false;
    const sub = src.frames$.subscribe({ next: (f) => got.push(f), complete: () => (completed = true) });
    // ffmpeg's start-up varies with the machine's load; the pacing is judged between frames, once they flow
    await waitFor(() => got.length >= 16, 20000, '16 frames from the paced file');
    const pid = src.pid;
    sub.unsubscribe();
    await src.whenStopped();
    // 10 intervals at 10 fps are ~1 s; an unpaced read delivers them in a few ms (795 frames in well under 2 s).
    // The first five are skipped: newer ffmpeg lets -re read its first 0.5 s in a burst.
    const span = got[15]!.t - got[5]!.t;
    expect(span).toBeGreaterThan(600);
    expect(span).toBeLessThan(5000);
    expect(completed).toBe(false);
    expect(pid).toBeDefined();
    expect(src.pid).toBeUndefined();
  });

  it('gives up after maxAttempts with ffmpeg stderr in the error and state failed', async () => {
    const src = new FfmpegSource({
      streamId: 'missing',
      url: '/nonexistent/clip.mp4',
      width: 8,
      height: 8,
      maxAttempts: 2,
      onEnd: 'reconnect',
      backoff: { initialMs: 50, maxMs: 100, factor: 2 },
      logger: silentLogger,
    });
    const states: string[] = [];
    const sub = new Subscription();
    sub.add(src.state$.subscribe((s) => states.push(s.state)));
    await expect(lastValueFrom(src.frames$)).rejects.toThrow(/gave up after 2 attempts[\s\S]*No such file/);
    expect(states).toEqual(['connecting', 'reconnecting', 'connecting', 'failed']);
    expect(src.stderr().join('\n')).toMatch(/No such file/);
    // subscribing again starts afresh (2 more attempts), it does not fail at once
    await expect(lastValueFrom(src.frames$)).rejects.toThrow(/gave up after 2 attempts/);
    expect(states.slice(4)).toEqual(['connecting', 'reconnecting', 'connecting', 'failed']);
    sub.unsubscribe();
  });
});
