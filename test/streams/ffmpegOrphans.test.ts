/**
 * No ffmpeg outlives the agent, even on kill -9: `dino-stream run` reads a real RTSP camera (for training, and
 * for a viewer of /live/<stream>) that has gone silent
 * (SIGSTOP: the TCP connection stays open, nothing flows, so ffmpeg blocks in a read), the agent is SIGKILLed, and
 * within 10 s no ffmpeg it started is left. The source's watchdog and ffmpeg's own I/O timeout are set to 60 s, so
 * only the tie to the agent (setpriv --pdeathsig) can end them that fast. A control spawns the same ffmpeg untied
 * from a process that is SIGKILLed the same way: it is still running afterwards.
 */
import { spawn } from 'node:child_process';
import { WebSocket } from 'ws';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveFfmpegPath } from '../../streams/sources/ffmpegPath';
import { canTieChildren } from '../../streams/sources/childProcess';
import { RtspCamera } from '../fixtures/rtspCamera';
import { AgentProcess } from '../agent/agentProcess';
import { requireTool } from '../helpers/requireTool';
import { sleep, waitFor } from './waitFor';

/** Running (not gone, not a zombie waiting to be reaped). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Running ffmpeg processes whose parent is `ppid`. */
function ffmpegChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^(\d+) \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && m[2] === 'ffmpeg' && m[3] !== 'Z' && Number(m[4]) === ppid) out.push(Number(m[1]));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

requireTool('ffmpeg', 'gst-rtsp-server')('ffmpeg children and kill -9 of the agent', () => {
  const camera = new RtspCamera({ fps: 10 });
  const left: number[] = [];

  beforeAll(() => camera.start());
  afterAll(async () => {
    for (const pid of left) if (running(pid)) process.kill(pid, 'SIGKILL');
    await camera.stop();
  });

  test('kill -9 of dino-stream run while its RTSP camera is silent: no ffmpeg it started is left within 10 s', async () => {
    expect(process.platform !== 'linux' || canTieChildren()).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-orphans-'));
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ sources: [{ kind: 'url', id: 'door', url: camera.url, fps: 5, watchdogSec: 60 }] }));
    const agent = new AgentProcess(['-c', config, '--port', '0', '--model', 'micro', '--checkpoint-dir', path.join(dir, 'ckpt'), '--no-train']);
    try {
      const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//, 90_000);
      await agent.waitFor(/^camera door: live$/, 90_000);
      // a viewer of the live view: the relay's own ffmpeg (MPEG-1 for the dashboard)
      const viewer = new WebSocket(`ws://127.0.0.1:${port}/live/door`);
      viewer.on('error', () => undefined);
      let bytes = 0;
      viewer.on('message', (d: Buffer) => (bytes += d.length));
      await waitFor(() => bytes > 10_000, 30_000, 'live video from the relay');
      camera.pause();
      await sleep(1000);
      const children = ffmpegChildren(agent.pid);
      expect(children.length).toBe(2); // the source's and the relay's
      left.push(...children);
      agent.kill();
      await agent.exited;
      const ms = await waitFor(() => children.every((pid) => !running(pid)), 10_000, `ffmpeg ${children.join(', ')} to be gone after kill -9 of the agent`);
      console.log(`ffmpeg of the killed agent gone ${ms} ms after the kill (watchdog and I/O timeout 60 s)`);
    } finally {
      agent.kill();
      camera.resume();
    }
  }, 180_000);

  test('control: the same ffmpeg spawned untied from a process that is SIGKILLed keeps running', async () => {
    camera.pause();
    const ffmpeg = resolveFfmpegPath();
    const script = `require('child_process').spawn(${JSON.stringify(ffmpeg)}, ['-nostdin', '-rtsp_transport', 'tcp', '-i', ${JSON.stringify(camera.url)}, '-f', 'null', '-'], { stdio: 'ignore' }); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    try {
      await waitFor(() => ffmpegChildren(parent.pid!).length === 1, 10_000, 'the untied ffmpeg to start');
      const [pid] = ffmpegChildren(parent.pid!);
      left.push(pid!);
      parent.kill('SIGKILL');
      await sleep(3000);
      expect(running(pid!)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
      camera.resume();
    }
  }, 60_000);
});
