import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Subscription } from 'rxjs';
import { configSchema } from '../../config/schema';
import { SourceSet } from '../../src/agent/SourceSet';
import { EventStore } from '../../src/events/EventStore';
import { AgentServer } from '../../src/serve/AgentServer';
import type { Frame } from '../../streams/Frame';
import { silentLogger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { requireTool } from '../helpers/requireTool';
import { launchChromium } from '../helpers/browser';
import { sleep, waitFor } from '../streams/waitFor';
import { FakeHub } from './fakeHub';

const TOKEN = 'browser-token-events';
const ARTIFACTS = path.resolve(__dirname, '../../artifacts');
const T0 = Date.now() - 60_000;

function solid(rgb: [number, number, number], size = 32): Frame {
  const px = new Uint8Array(size * size * 3);
  for (let i = 0; i < px.length; i += 3) px.set(rgb, i);
  return { streamId: 'syn', t: T0, index: 0, width: size, height: size, rgb: px };
}

/** The mean colour of a loaded <img>, read back through a canvas in the page. */
function imageColour(page: Page, selector: string): Promise<number[]> {
  return page.$eval(selector, (el) => {
    const img = el as HTMLImageElement;
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k]! += d[i + k]!;
    return sum.map((s) => Math.round(s / (d.length / 4)));
  });
}

requireTool('chromium')('dashboard: event list with pictures, sources added and removed, masks', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-dash-events-'));
  const store = new EventStore({ dir: path.join(dir, 'events'), maxCount: 100, maxBytes: 1 << 30, maxAgeDays: 30, log: silentLogger });
  const cfg = configSchema.parse({ train: { frameSize: 16 }, sources: [{ kind: 'synthetic', id: 'syn', fps: 20, mask: [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]] }] });
  const sources = new SourceSet(cfg, silentLogger, path.join(dir, 'sources.json'));
  const hub = new FakeHub();
  const frames: Frame[] = [];
  let sub: Subscription;
  let server: AgentServer;
  let browser: Browser | undefined;

  beforeAll(async () => {
    await store.open();
    sources.open();
    sub = sources.frames$.subscribe((f) => frames.push(f));
    server = new AgentServer({ hub, port: 0, log: silentLogger, token: TOKEN, events: store, sources });
    await server.start();
  });
  afterAll(async () => {
    sub?.unsubscribe();
    sources.stop();
    await browser?.close();
    await server?.stop(100);
  });

  test('stored and live events are listed with their pictures; a source is added and removed from the page; masks are drawn', async () => {
    const novelty = await store.record({ type: 'novelty', streamId: 'syn', t: T0, frameIndex: 3, score: 0.4, calibrated: 0.999, threshold: 0.995, teacherStep: 9 }, { snapshot: solid([220, 30, 30]) });
    const drift = await store.record(
      { type: 'drift', streamId: 'syn', t: T0 + 1000, statistic: 0.3, pValue: 0, alpha: 0.01, method: 'mmd', teacherStep: 9 },
      { before: solid([20, 20, 220]), snapshot: solid([20, 220, 20]) },
    );
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    page.on('dialog', (d) => void d.accept());
    await page.goto(`http://127.0.0.1:${server.port}/?token=${TOKEN}`);
    await page.waitForSelector('body[data-conn="live"]', { timeout: 10_000 });

    // the stored events, newest first, with their pictures loaded from /api/events/<id>/...jpg
    await page.waitForFunction((id) => {
      const img = document.querySelector(`#events li[data-id="${id}"] img.snap.snapshot`) as HTMLImageElement | null;
      return !!img && img.complete && img.naturalWidth === 32;
    }, novelty.id, { timeout: 10_000 });
    expect(await page.$$eval('#events li', (lis) => lis.map((li) => (li as HTMLElement).dataset.id))).toEqual([drift.id, novelty.id]);
    const red = await imageColour(page, `#events li[data-id="${novelty.id}"] img.snap.snapshot`);
    expect(red[0]).toBeGreaterThan(200);
    expect(red[1]).toBeLessThan(50);
    await page.waitForFunction((id) => Array.from(document.querySelectorAll(`#events li[data-id="${id}"] img.snap`)).every((i) => (i as HTMLImageElement).naturalWidth === 32), drift.id);
    expect((await imageColour(page, `#events li[data-id="${drift.id}"] img.snap.before`))[2]).toBeGreaterThan(200);
    expect((await imageColour(page, `#events li[data-id="${drift.id}"] img.snap.after`))[1]).toBeGreaterThan(200);

    // a live event with a picture arrives over /ui and goes on top
    const live = await store.record({ type: 'novelty', streamId: 'syn', t: Date.now(), frameIndex: 8, score: 0.5, calibrated: 0.999, threshold: 0.995, teacherStep: 9 }, { snapshot: solid([240, 240, 20]) });
    hub.eventsS.next(live as never);
    await page.waitForFunction((id) => (document.querySelector('#events li') as HTMLElement | null)?.dataset.id === id, live.id, { timeout: 10_000 });

    // the configured source is listed with its mask; its card shows the mask polygon
    await page.waitForSelector('#sources-list tr[data-id="syn"]');
    expect(await page.textContent('#sources-list tr[data-id="syn"]')).toContain('1 polygon');
    hub.thumbnailsS.next({ streamId: 'syn', t: Date.now(), frameIndex: 1, width: 32, height: 32, jpeg: (await store.picture(novelty.id, 'snapshot'))! });
    await page.waitForSelector('.card[data-stream="syn"] svg.mask polygon', { timeout: 10_000 });
    expect(await page.getAttribute('.card[data-stream="syn"] svg.mask polygon', 'points')).toBe('0,0 0.5,0 0.5,0.5 0,0.5');

    // add a source from the page: it is listed and its frames flow
    await page.fill('#source-json', JSON.stringify({ kind: 'synthetic', id: 'added', fps: 20, seed: 4 }));
    await page.click('#source-add');
    await page.waitForSelector('#sources-list tr[data-id="added"]', { timeout: 10_000 });
    expect(await page.textContent('#source-error')).toBe('added "added"');
    await waitFor(() => frames.some((f) => f.streamId === 'added'), 5000, 'frames of the source added from the page');

    // a bad spec: the API's message, naming the field, is shown; nothing is added
    await page.fill('#source-json', JSON.stringify({ kind: 'url', id: 'cam9' }));
    await page.click('#source-add');
    await page.waitForFunction(() => /url: Invalid input/.test(document.getElementById('source-error')!.textContent ?? ''), undefined, { timeout: 10_000 });
    expect(await page.$$eval('#sources-list tr', (trs) => trs.map((t) => (t as HTMLElement).dataset.id))).toEqual(['syn', 'added']);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-events-sources.png'), fullPage: true });

    // remove it from the page: gone from the list, its frames stop
    await page.click('#sources-list tr[data-id="added"] button.remove');
    await page.waitForFunction(() => !document.querySelector('#sources-list tr[data-id="added"]'), undefined, { timeout: 10_000 });
    const n = frames.length;
    await sleep(300);
    expect(frames.slice(n).some((f) => f.streamId === 'added')).toBe(false);
    expect(frames.slice(n).some((f) => f.streamId === 'syn')).toBe(true);
    // the browser reports the refused POST of the bad spec; nothing else went wrong
    expect(errors).toEqual(['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  }, 90_000);
});
