import { mkdirSync } from 'fs';
import { resolve } from 'path';
import type { Browser } from 'playwright-core';
import { canvasHash, launchChromium } from '../helpers/browser';
import { AgentServer } from '../../src/serve/AgentServer';
import { silentLogger } from '../../src/util/Logger';
import { sleep } from '../streams/waitFor';
import { DashboardFeed } from './dashboardFeed';
import { FakeHub } from './fakeHub';
import { requireTool } from '../helpers/requireTool';

const ARTIFACTS = resolve(__dirname, '../../artifacts');


requireTool('chromium')('dashboard in headless Chromium', () => {
  let server: AgentServer;
  let feed: DashboardFeed;
  let browser: Browser | undefined;

  beforeAll(async () => {
    const hub = new FakeHub();
    server = new AgentServer({ hub, port: 0, log: silentLogger, token: 'browser-token', dashboard: { pcaIntervalMs: 300, statusIntervalMs: 250 } });
    feed = new DashboardFeed(hub);
    await feed.load();
    await server.start();
    feed.start(100);
  });

  afterAll(async () => {
    feed?.stop();
    await browser?.close();
    await server?.stop(100);
  });

  it('draws live plots, thumbnails, PCA and the attention overlay; content changes over time', async () => {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${server.port}/?token=browser-token`);
    await page.waitForSelector('body[data-conn="live"]', { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.getElementById('attention')!.dataset.draws) > 0, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.getElementById('pca')!.dataset.points) > 10, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('.card img[src^="data:image/jpeg"]').length === 3, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('#plot-novelty .u-legend .u-label').length === 3, undefined, { timeout: 10_000 }); // one series per stream

    const snap = async () => ({
      loss: await page.textContent('#loss-value'),
      step: await page.textContent('#step-value'),
      lossPlot: await canvasHash(page, '#plot-loss canvas'),
      attention: await canvasHash(page, '#attention'),
      attentionFrame: await page.getAttribute('#attention', 'data-frame-index'),
      pca: await canvasHash(page, '#pca'),
    });
    const a = await snap();
    await sleep(1200);
    const b = await snap();

    expect(a.loss).toMatch(/^\d+\.\d{3}$/);
    expect(b.loss).not.toBe(a.loss);
    expect(Number(b.step)).toBeGreaterThan(Number(a.step));
    expect(b.lossPlot.hash).not.toBe(a.lossPlot.hash);
    expect(b.lossPlot.colours).toBeGreaterThan(3); // background, grid, and the two series at least
    expect(b.attentionFrame).not.toBe(a.attentionFrame);
    expect(b.attention.hash).not.toBe(a.attention.hash);
    expect(b.attention.colours).toBeGreaterThan(200); // a photo under a heat map, not a flat fill
    expect(b.pca.colours).toBeGreaterThan(3);
    expect(b.pca.hash).not.toBe(a.pca.hash);

    expect(await page.textContent('#events')).toMatch(/novelty/);
    expect(await page.$$eval('.heads canvas', (cs) => cs.length)).toBe(4); // mean + 3 heads
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: resolve(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 60_000);
});
