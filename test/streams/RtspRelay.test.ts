import { createServer, AddressInfo, Server } from 'net';
import { WebSocket } from 'ws';
import { RelayState, RtspRelay } from '../../streams/sources/RtspRelay';
import { liveChildPids } from '../../streams/sources/childProcess';
import { silentLogger } from '../../src/util/Logger';
import { RtspCamera } from '../fixtures/rtspCamera';
import { readFileSync } from 'fs';
import { pidAlive, waitFor } from './waitFor';
import { requireTool } from '../helpers/requireTool';

requireTool('ffmpeg', 'gst-rtsp-server')('RtspRelay (live view only)', () => {
  const camera = new RtspCamera({ fps: 10 });
  let relay: RtspRelay | undefined;
  let blocker: Server | undefined;

  beforeAll(async () => {
    await camera.start();
  });

  afterAll(async () => {
    await relay?.stop();
    blocker?.close();
    await camera.stop();
  });

  it('a busy port is a rejected start(), not a crash, and starts no ffmpeg', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(0, '127.0.0.1', () => r()));
    const busy = (blocker.address() as AddressInfo).port;
    const r = new RtspRelay({ url: camera.url, width: 160, height: 120, port: busy, logger: silentLogger });
    await expect(r.start()).rejects.toThrow(new RegExp(`127.0.0.1:${busy}: port in use`));
    expect(liveChildPids()).toEqual([]);
  });

  it('relays MPEG-TS to a JSMpeg client on 127.0.0.1, restarts ffmpeg when it dies, stops cleanly', async () => {
    relay = new RtspRelay({ url: camera.url, name: 'cam', width: 160, height: 120, backoff: { initialMs: 200, maxMs: 1000, factor: 2 }, logger: silentLogger });
    const states: RelayState[] = [];
    relay.state$.subscribe((s) => states.push(s));
    const port = await relay.start();
    expect(relay.address).toEqual(expect.objectContaining({ address: '127.0.0.1', port }));

    const chunks: Buffer[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    ws.on('message', (d: Buffer) => chunks.push(d));
    await waitFor(() => chunks.length > 0, 5000, 'the JSMpeg header');
    expect(chunks[0]!.toString('ascii', 0, 4)).toBe('jsmp');
    expect([chunks[0]!.readUInt16BE(4), chunks[0]!.readUInt16BE(6)]).toEqual([160, 120]);

    const ts = () => chunks.slice(1).reduce((a, c) => a + c.length, 0);
    await waitFor(() => ts() > 20_000, 20_000, '20 kB of MPEG-TS');
    expect(chunks[1]![0]).toBe(0x47); // TS sync byte
    expect(states.map((s) => s.state)).toEqual(['starting', 'live']);

    // ffmpeg reads the camera as FfmpegSource does: RTSP protocols only, over TCP, with a socket timeout, tied to us
    const cmd = readFileSync(`/proc/${relay.pid!}/cmdline`, 'utf8').split('\0');
    expect(cmd.slice(cmd.indexOf('-protocol_whitelist'), cmd.indexOf('-protocol_whitelist') + 2)).toEqual(['-protocol_whitelist', 'rtsp,rtp,srtp,udp,tcp']);
    expect(cmd.slice(cmd.indexOf('-rtsp_transport'), cmd.indexOf('-rtsp_transport') + 2)).toEqual(['-rtsp_transport', 'tcp']);
    expect(cmd.some((a) => a === '-timeout' || a === '-stimeout')).toBe(true);
    expect(cmd.indexOf('-protocol_whitelist')).toBeLessThan(cmd.indexOf('-i'));

    // ffmpeg dies (a bare node-rtsp-stream would stay dead): the relay restarts it and the same viewer gets data again
    const pid = relay.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => states.some((s) => s.state === 'restarting'), 3000, 'restarting');
    await waitFor(() => states.filter((s) => s.state === 'live').length === 2, 20_000, 'live again');
    const before = ts();
    await waitFor(() => ts() > before + 10_000, 10_000, 'data after the restart');
    expect(relay.pid).not.toBe(pid);
    expect(relay.restarts).toBe(1);

    const newPid = relay.pid!;
    await relay.stop();
    await waitFor(() => ws.readyState === WebSocket.CLOSED, 2000, 'viewer closed');
    expect(pidAlive(newPid)).toBe(false);
    expect(liveChildPids()).toEqual([]);
    expect(states[states.length - 1]!.state).toBe('stopped');
    relay = undefined;
  });
});
