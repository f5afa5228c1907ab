import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, headless, as root; without the network flags it keeps dialling out on this closed network. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install the Debian package "chromium" (apt-get install -y chromium); .ci/run does this`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    // Playwright adds --headless and a fresh --user-data-dir itself.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A cheap fingerprint of a canvas's pixels (changes when anything is redrawn differently). */
export async function canvasHash(page: Page, selector: string): Promise<{ hash: number; colours: number }> {
  return page.$eval(selector, (el) => {
    const c = el as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    const colours = new Set<number>();
    for (let i = 0; i < d.length; i += 4) {
      const px = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!;
      h = (Math.imul(h, 31) + px) | 0;
      if (colours.size < 5000) colours.add(px);
    }
    return { hash: h, colours: colours.size };
  });
}
