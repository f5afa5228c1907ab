/**
 * The dashboard served by the real agent process, in real headless Chromium: plots and the attention map draw
 * and their content is live. Saves artifacts/agent-dashboard.png.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { canvasHash, launchChromium } from '../helpers/browser';
import { AgentProcess } from './agentProcess';
import { requireTool } from '../helpers/requireTool';

const ARTIFACTS = path.resolve(__dirname, '../../artifacts');
jest.setTimeout(120_000);

requireTool('chromium')('dashboard of the running agent', () => {
  let agent: AgentProcess | null = null;
  let browser: Browser | null = null;
  afterAll(async () => {
    await browser?.close();
    agent?.kill();
  });

  test('plots, live view and attention map draw and change', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dino-dash-'));
    agent = new AgentProcess(['--port', '0', '--model', 'micro', '--checkpoint-dir', dir, '--source', 'synthetic', '--fps', '20'], {
      DINO__EMBED__ATTENTION_EVERY_SEC: '0.5',
      DINO__EMBED__THUMBNAIL_FPS: '4',
    });
    const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('body[data-conn="live"]', { timeout: 15_000 });
    await page.waitForFunction(() => Number(document.getElementById('attention')!.dataset.draws) > 0, undefined, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('.card img[src^="data:image/jpeg"]').length === 1, undefined, { timeout: 30_000 });
    await page.waitForFunction(() => Number(document.getElementById('step-value')!.textContent) > 2, undefined, { timeout: 30_000 });

    const snap = async () => ({
      step: Number(await page.textContent('#step-value')),
      loss: await page.textContent('#loss-value'),
      lossPlot: await canvasHash(page, '#plot-loss canvas'),
      attention: await canvasHash(page, '#attention'),
      attentionFrame: await page.getAttribute('#attention', 'data-frame-index'),
      thumb: await page.getAttribute('.card img', 'src'),
    });
    const a = await snap();
    await page.waitForTimeout(3000);
    const b = await snap();
    expect(b.step).toBeGreaterThan(a.step);
    expect(b.loss).toMatch(/^\d+\.\d{3}$/);
    expect(b.lossPlot.hash).not.toBe(a.lossPlot.hash);
    expect(b.lossPlot.colours).toBeGreaterThan(3);
    expect(b.attentionFrame).not.toBe(a.attentionFrame);
    expect(b.attention.hash).not.toBe(a.attention.hash);
    expect(b.attention.colours).toBeGreaterThan(100); // a frame under a heat map, not a flat fill
    expect(b.thumb).not.toBe(a.thumb); // the live view moves
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'agent-dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
    agent.signal('SIGTERM');
    expect(await agent.exited).toBe(0);
  });
});
