import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { configSchema } from '../../config/schema';
import { SourceSet } from '../../src/agent/SourceSet';
import { AgentServer } from '../../src/serve/AgentServer';
import { LiveVideo } from '../../src/serve/LiveVideo';
import { silentLogger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { liveChildPids } from '../../streams/sources/childProcess';
import { canvasHash, launchChromium } from '../helpers/browser';
import { requireTool } from '../helpers/requireTool';
import { RtspCamera } from '../fixtures/rtspCamera';
import { pidAlive, sleep, waitFor } from '../streams/waitFor';
import { refusedUpgrade } from './wsClient';
import { FakeHub } from './fakeHub';

const TOKEN = 'browser-token-live';
const ARTIFACTS = path.resolve(__dirname, '../../artifacts');

/** Opens the dashboard and the live view of `id`; resolves once JSMpeg has decoded `frames` frames. */
async function watch(page: Page, port: number, id: string, frames = 15): Promise<void> {
  await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`);
  await page.waitForSelector(`.card[data-stream="${id}"] button.live`, { timeout: 15_000 });
  await page.click(`.card[data-stream="${id}"] button.live`);
  await page.waitForFunction((n) => (window as unknown as { DinoLive: { stats: { frames: number } } }).DinoLive.stats.frames >= n, frames, { timeout: 30_000 });
}

requireTool('chromium', 'ffmpeg', 'gst-rtsp-server')('live video: an RTSP camera at full rate in the dashboard (JSMpeg)', () => {
  const camera = new RtspCamera({ fps: 25 });
  const hub = new FakeHub();
  let sources: SourceSet;
  let live: LiveVideo;
  let server: AgentServer;
  let browser: Browser | undefined;

  beforeAll(async () => {
    await camera.start();
    const cfg = configSchema.parse({ train: { frameSize: 16 }, sources: [{ kind: 'url', id: 'door', url: camera.url }, { kind: 'synthetic', id: 'syn' }] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-live-'));
    sources = new SourceSet(cfg, silentLogger, path.join(dir, 'sources.json'));
    sources.open();
    live = new LiveVideo({ urlOf: (id) => sources.urlOf(id), width: 320, height: 240, idleStopMs: 300, log: silentLogger });
    server = new AgentServer({ hub, port: 0, log: silentLogger, token: TOKEN, sources, live });
    await server.start();
    // the dashboard makes a card per stream it hears of
    for (const id of ['door', 'syn']) hub.thumbnailsS.next({ streamId: id, t: Date.now(), frameIndex: 0, width: 2, height: 2, jpeg: Buffer.alloc(0) });
  });
  afterAll(async () => {
    await browser?.close();
    await live?.stop();
    await server?.stop(100);
    sources?.stop();
    await camera.stop();
  });

  test('refuses a viewer without the token, and streams that are not camera URLs', async () => {
    const ws = `ws://127.0.0.1:${server.port}`;
    expect(await refusedUpgrade(`${ws}/live/door`)).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
    expect(await refusedUpgrade(`${ws}/live/syn?token=${TOKEN}`)).toMatchObject({ status: 404, body: { code: 'not_live', message: expect.stringMatching(/not a camera URL source/) } });
    expect(await refusedUpgrade(`${ws}/live/nope?token=${TOKEN}`)).toMatchObject({ status: 404 });
    expect(live.stats()).toEqual({});
  });

  test('the video plays (frames decoded, the canvas changes), one relay for two viewers, stopped when the last leaves', async () => {
    browser = await launchChromium();
    const a = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    a.on('pageerror', (e) => errors.push(e.message));
    await watch(a, server.port!, 'door');
    const h1 = await canvasHash(a, '#live-canvas');
    await sleep(600);
    const h2 = await canvasHash(a, '#live-canvas');
    expect(h2.hash).not.toBe(h1.hash); // moving picture
    expect(h2.colours).toBeGreaterThan(500); // a camera picture, not a flat fill
    const fps = await a.evaluate(async () => {
      const s = (window as unknown as { DinoLive: { stats: { frames: number } } }).DinoLive.stats;
      const f0 = s.frames;
      await new Promise((r) => setTimeout(r, 2000));
      return (s.frames - f0) / 2;
    });
    console.log(`live video: ${fps} frames/s decoded in Chromium (relay at 25 fps, camera at 25 fps)`);
    expect(fps).toBeGreaterThan(10); // full rate, against the 2 fps thumbnails
    const one = live.stats()['door']!;
    expect(one.viewers).toBe(1);
    expect(one.state).toBe('live');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await a.screenshot({ path: path.join(ARTIFACTS, 'dashboard-live.png') });

    const b = await browser.newPage();
    await watch(b, server.port!, 'door', 5);
    expect(live.stats()['door']).toMatchObject({ viewers: 2, pid: one.pid });
    expect(liveChildPids()).toEqual([one.pid]); // one ffmpeg for both viewers (the training source is not subscribed here)

    await b.close();
    await waitFor(() => live.stats()['door']?.viewers === 1, 5000, 'one viewer left');
    await sleep(600);
    expect(pidAlive(one.pid!)).toBe(true); // still watched
    await a.click('#live-close');
    await waitFor(() => live.stats()['door'] === undefined, 5000, 'relay stopped after the last viewer');
    await waitFor(() => !pidAlive(one.pid!), 5000, 'relay ffmpeg gone');
    expect(errors).toEqual([]);
  }, 120_000);
});
