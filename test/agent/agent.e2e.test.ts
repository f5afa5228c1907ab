/**
 * The real agent process on the synthetic camera: ws embeddings and stats, /metrics, SIGTERM -> checkpoint,
 * a second start resumes from it. Needs `npm run build` (npm test runs it first).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { AgentProcess } from './agentProcess';
import { requireTool } from '../helpers/requireTool';
import { sharedData } from '../helpers/sharedData';

jest.setTimeout(180_000);

function collect(url: string, n: number, pick: (m: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const got: Record<string, unknown>[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`only ${got.length}/${n} messages from ${url}`));
    }, timeoutMs);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      if (pick(m)) got.push(m);
      if (got.length >= n) {
        clearTimeout(timer);
        ws.close();
        resolve(got);
      }
    });
    ws.on('error', reject);
  });
}

describe('dino-stream run (real process)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-e2e-'));
  const args = ['--port', '0', '--model', 'micro', '--checkpoint-dir', dir, '--source', 'synthetic', '--fps', '20'];
  let agent: AgentProcess | null = null;
  afterEach(() => agent?.kill());

  test('serves embeddings and stats, exposes metrics, checkpoints on SIGTERM, resumes on the next start', async () => {
    agent = new AgentProcess(args);
    const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    const base = `127.0.0.1:${port}`;

    const [embeddings, stats] = await Promise.all([
      collect(`ws://${base}/embeddings?streams=synthetic&format=json`, 3, (m) => m['type'] === 'embedding'),
      collect(`ws://${base}/ui`, 2, (m) => m['type'] === 'stats'),
    ]);
    for (const e of embeddings) {
      expect(e['streamId']).toBe('synthetic');
      expect(e['dim']).toBe(16); // micro model
      const v = e['embedding'] as number[];
      expect(v).toHaveLength(16);
      expect(Math.hypot(...v)).toBeCloseTo(1, 4); // L2-normalised teacher CLS
      expect(typeof e['teacherStep']).toBe('number');
    }
    const frames = embeddings.map((e) => e['frameIndex'] as number);
    expect(new Set(frames).size).toBe(frames.length); // each message is a new frame
    const s = (stats[1]!['stats'] as Record<string, number>);
    expect(s['step']).toBeGreaterThan(0);
    expect(Number.isFinite(s['loss'])).toBe(true);

    const metrics = await (await fetch(`http://${base}/metrics`)).text();
    const step = Number(/^dino_train_step (\d+)/m.exec(metrics)?.[1]);
    expect(step).toBeGreaterThan(0);
    expect(metrics).toMatch(/^dino_stream_fps\{stream="synthetic"\} [\d.]+/m);
    expect(metrics).toMatch(/^dino_serve_messages_sent_total\{path="\/embeddings"\} \d+/m);

    agent.signal('SIGTERM');
    expect(await agent.exited).toBe(0);
    const [, file] = await agent.waitFor(/checkpoint written: (.+ckpt-\d{8}T\d{9}-(\d+)\.dino)/);
    expect(fs.existsSync(file!)).toBe(true);
    const savedStep = Number(/-(\d+)\.dino$/.exec(file!)![1]);
    expect(savedStep).toBeGreaterThanOrEqual(step);

    agent = new AgentProcess(args);
    const [, resumedStep] = await agent.waitFor(/resumed from checkpoint .+ \(step (\d+)\)/);
    expect(Number(resumedStep)).toBe(savedStep);
    const [, port2] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    const [next] = await collect(`ws://127.0.0.1:${port2}/ui`, 1, (m) => m['type'] === 'stats');
    expect((next!['stats'] as Record<string, number>)['step']).toBeGreaterThan(savedStep);
    agent.signal('SIGTERM');
    expect(await agent.exited).toBe(0);
  });
});

requireTool('ffmpeg')('dino-stream run on a real video file', () => {
  test('the micro model trains online from vtest_h264.mp4; loss finite and logged', async () => {
    const video = sharedData('video/vtest_h264.mp4');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-video-'));
    const agent = new AgentProcess(['--port', '0', '--model', 'micro', '--checkpoint-dir', dir, '--source', `campus=${video}`, '--fps', '20'], {
      DINO__LOG__STATUS_EVERY_SEC: '1',
    });
    try {
      const [line, step, loss] = await agent.waitFor(/^step (\d+) \| [\d.]+ img\/s \| loss ([-\d.eE+]+|NaN) .*campus [\d.]+ fps/, 90_000);
      expect(Number(step)).toBeGreaterThan(0);
      expect(Number.isFinite(Number(loss))).toBe(true);
      expect(line).toMatch(/entropy [\d.]+ \| std [\d.]+/);
      agent.signal('SIGTERM');
      expect(await agent.exited).toBe(0);
    } finally {
      agent.kill();
    }
  });
});
