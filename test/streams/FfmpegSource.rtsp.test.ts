import { Subscription } from 'rxjs';
import { Frame } from '../../streams/Frame';
import { CameraState } from '../../streams/CameraState';
import { FfmpegSource } from '../../streams/sources/FfmpegSource';
import { liveChildPids } from '../../streams/sources/childProcess';
import { silentLogger } from '../../src/util/Logger';
import { RtspCamera, TREE } from '../fixtures/rtspCamera';
import { pidAlive, sleep, waitFor } from './waitFor';
import { requireTool } from '../helpers/requireTool';

/**
 * A real RTSP camera (GStreamer) -> FfmpegSource. The camera hangs (SIGSTOP), is killed, and restarted on the same
 * port; the source must report stalled/reconnecting and resume, while another source keeps delivering.
 */
requireTool('ffmpeg', 'gst-rtsp-server')('FfmpegSource on a real RTSP camera', () => {
  const camera = new RtspCamera({ fps: 10 });
  let cam: FfmpegSource;
  let other: FfmpegSource;
  const subs = new Subscription();
  const camFrames: Frame[] = [];
  const otherFrames: Frame[] = [];
  const states: CameraState[] = [];

  beforeAll(async () => {
    await camera.start();
  });

  afterAll(async () => {
    subs.unsubscribe();
    await Promise.all([cam?.whenStopped(), other?.whenStopped()]);
    await camera.stop();
  });

  it('delivers frames, survives a hung camera and a killed camera, and resumes', async () => {
    cam = new FfmpegSource({
      streamId: 'cam',
      url: camera.url,
      width: 64,
      height: 48,
      fps: 5,
      watchdogMs: 1500,
      connectTimeoutMs: 5000,
      killGraceMs: 500,
      backoff: { initialMs: 200, maxMs: 1000, factor: 2 },
      logger: silentLogger,
    });
    // A second, independent camera-like source: must not notice the first one's trouble.
    other = new FfmpegSource({ streamId: 'tree', url: TREE, width: 32, height: 24, fps: 5, realtime: true, loop: true, logger: silentLogger });
    subs.add(cam.state$.subscribe((s) => states.push(s)));
    subs.add(cam.frames$.subscribe((f) => camFrames.push(f)));
    subs.add(other.frames$.subscribe((f) => otherFrames.push(f)));

    // 1. Frames of the configured size, with real picture content, at about the configured rate.
    await waitFor(() => camFrames.length >= 6, 15_000, '6 frames from the RTSP camera');
    for (const f of camFrames) {
      expect([f.streamId, f.width, f.height, f.rgb.length]).toEqual(['cam', 64, 48, 64 * 48 * 3]);
    }
    expect(camFrames.map((f) => f.index)).toEqual(camFrames.map((_, i) => i));
    const px = camFrames[5]!.rgb;
    const mean = px.reduce((a, b) => a + b, 0) / px.length;
    const variance = px.reduce((a, b) => a + (b - mean) ** 2, 0) / px.length;
    expect(mean).toBeGreaterThan(20); // a campus scene, not a black frame
    expect(variance).toBeGreaterThan(100);
    expect(states.map((s) => s.state)).toEqual(['connecting', 'live']);
    const firstPid = cam.pid!;
    expect(pidAlive(firstPid)).toBe(true);

    // 2. Camera hangs: TCP stays open, nothing flows -> watchdog -> stalled, process killed, reconnecting.
    camera.pause();
    let n = states.length;
    await waitFor(() => states.slice(n).some((s) => s.state === 'stalled'), 6000, 'state stalled after the camera hung');
    await waitFor(() => states.slice(n).some((s) => s.state === 'reconnecting'), 5000, 'state reconnecting');
    await waitFor(() => !pidAlive(firstPid), 3000, 'the stalled ffmpeg to be killed');
    const otherDuringHang = otherFrames.length;
    await sleep(1000);
    expect(otherFrames.length).toBeGreaterThan(otherDuringHang + 2); // ~5 fps, unaffected

    // 3. Camera comes back -> live again, frames flow.
    camera.resume();
    n = states.length;
    let have = camFrames.length;
    await waitFor(() => camFrames.length >= have + 3, 15_000, '3 frames after the camera resumed');
    expect(states.slice(n).map((s) => s.state)).toContain('live');

    // 4. Camera killed: connection drops, attempts fail and back off; the other source keeps going.
    n = states.length;
    await camera.stop('SIGKILL');
    await waitFor(() => states.slice(n).some((s) => s.state === 'reconnecting'), 6000, 'reconnecting after the camera died');
    const camBefore = camFrames.length;
    const otherBefore = otherFrames.length;
    await sleep(1500);
    expect(camFrames.length).toBe(camBefore);
    expect(otherFrames.length).toBeGreaterThan(otherBefore + 4);
    const attemptsWhileDown = states.slice(n).filter((s) => s.state === 'connecting').length;
    expect(attemptsWhileDown).toBeGreaterThanOrEqual(1);
    expect(cam.stats.failedAttempts).toBeGreaterThanOrEqual(1);

    // 5. Camera restarted on the same port -> frames flow again, the back-off was reset.
    n = states.length;
    await camera.start();
    have = camFrames.length;
    await waitFor(() => camFrames.length >= have + 3, 20_000, '3 frames after the camera restarted');
    expect(states.slice(n).map((s) => s.state)).toContain('live');
    expect(cam.stats.failedAttempts).toBe(0);
    const last = camFrames[camFrames.length - 1]!;
    expect([last.width, last.height, last.rgb.length]).toEqual([64, 48, 64 * 48 * 3]);
    // index keeps counting across reconnects
    expect(camFrames.map((f) => f.index)).toEqual(camFrames.map((_, i) => i));

    // 6. Unsubscribing kills every ffmpeg.
    const pids = [cam.pid, other.pid].filter((p): p is number => p !== undefined);
    expect(pids.length).toBe(2);
    subs.unsubscribe();
    await Promise.all([cam.whenStopped(), other.whenStopped()]);
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
    expect(liveChildPids()).toEqual([]);
  });
});
