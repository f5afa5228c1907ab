/**
 * What ffmpeg is allowed to open for an input: a protocol whitelist per scheme, local paths as `file:`, an I/O
 * timeout on network inputs (RTSP's own socket option, named as the installed ffmpeg names it).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { lastValueFrom } from 'rxjs';
import { FfmpegSource } from '../../streams/sources/FfmpegSource';
import { ffmpegInputArgs } from '../../streams/sources/ffmpegInput';
import { resolveFfmpegPath } from '../../streams/sources/ffmpegPath';
import { silentLogger } from '../../src/util/Logger';
import { requireTool } from '../helpers/requireTool';
import { sharedData } from '../helpers/sharedData';

const o = { ffmpegPath: 'ffmpeg-not-asked', ioTimeoutMs: 20_000, analyzeMs: 1000 };

describe('ffmpegInputArgs', () => {
  test('a local path becomes file:<path> with only the file protocol allowed, whatever it looks like', () => {
    for (const p of ['clip.mp4', '/abs/clip.mp4', 'concat:a.mp4|b.mp4', 'http:clip.mp4', '-y.mp4']) {
      expect(ffmpegInputArgs(p, o)).toEqual({ before: ['-protocol_whitelist', 'file'], input: ['-i', `file:${p}`] });
    }
    expect(ffmpegInputArgs('file:/abs/clip.mp4', o).input).toEqual(['-i', 'file:/abs/clip.mp4']);
  });

  test('http(s) and other network inputs: their protocols only, and -rw_timeout in microseconds', () => {
    expect(ffmpegInputArgs('https://cam.example/live.m3u8', o)).toEqual({
      before: ['-protocol_whitelist', 'https,http,tcp,tls,crypto,httpproxy', '-rw_timeout', '20000000', '-analyzeduration', '1000000'],
      input: ['-i', 'https://cam.example/live.m3u8'],
    });
    expect(ffmpegInputArgs('rtmp://cam/live', o).before.slice(0, 4)).toEqual(['-protocol_whitelist', 'rtmp,tcp', '-rw_timeout', '20000000']);
    expect(ffmpegInputArgs('gopher://x/y', o).before.slice(0, 2)).toEqual(['-protocol_whitelist', 'gopher,tcp,tls,udp']);
  });
});

requireTool('ffmpeg')('ffmpeg inputs, run', () => {
  test("rtsp: TCP and the socket timeout under the option this ffmpeg has (-timeout from ffmpeg 5, -stimeout before)", () => {
    const ffmpegPath = resolveFfmpegPath();
    const help = spawnSync(ffmpegPath, ['-hide_banner', '-h', 'demuxer=rtsp'], { encoding: 'utf8' }).stdout;
    const want = /^\s*-stimeout\b/m.test(help) ? '-stimeout' : '-timeout';
    expect(help).toMatch(new RegExp(`^\\s*${want}\\s.*(socket|I/O)`, 'm'));
    expect(ffmpegInputArgs('rtsp://127.0.0.1:8554/cam', { ...o, ffmpegPath }).before).toEqual([
      '-protocol_whitelist', 'rtsp,rtp,srtp,udp,tcp', '-rtsp_transport', 'tcp', want, '20000000', '-analyzeduration', '1000000',
    ]);
  });

  test('a local playlist that points at http is refused by the whitelist: ffmpeg never connects', async () => {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests++;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-hls-'));
    const playlist = path.join(dir, 'list.m3u8');
    fs.writeFileSync(playlist, `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttp://127.0.0.1:${port}/seg0.ts\n#EXT-X-ENDLIST\n`);
    try {
      const src = new FfmpegSource({ streamId: 'hls', url: playlist, width: 8, height: 8, maxAttempts: 1, onEnd: 'reconnect', logger: silentLogger });
      await expect(lastValueFrom(src.frames$)).rejects.toThrow(/gave up after 1 attempts[\s\S]*not on whitelist/);
      expect(requests).toBe(0);
    } finally {
      server.close();
    }
  });

  test('a file whose name looks like a protocol is read as a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-names-'));
    const odd = path.join(dir, 'concat:x.mp4');
    fs.copyFileSync(sharedData('video/tree_h264.mp4'), odd);
    // relative to the working directory ffmpeg inherits, the name starts with "concat:" as a protocol would
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const src = new FfmpegSource({ streamId: 'odd', url: 'concat:x.mp4', width: 8, height: 8, fps: 2, logger: silentLogger });
      const first = await new Promise((resolve, reject) => {
        const sub = src.frames$.subscribe({ next: (f) => (sub.unsubscribe(), resolve(f)), error: reject });
      });
      expect(first).toMatchObject({ streamId: 'odd', width: 8, height: 8 });
      await src.whenStopped();
    } finally {
      process.chdir(cwd);
    }
  });
});
