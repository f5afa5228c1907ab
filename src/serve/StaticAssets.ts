import { existsSync } from 'fs';
import { readFile } from 'fs/promises';
import { dirname, join, resolve } from 'path';

/**
 * The dashboard's files. They are plain static files in src/serve/dashboard (no build step), found from the package
 * root so the same code works under ts-jest (src/serve) and compiled (dist/src/serve). uPlot and the JSMpeg player come from node_modules.
 * Only the files listed here are served: no path from a request ever reaches the file system.
 */
export function packageRoot(from = __dirname): string {
  for (let d = resolve(from); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) throw new Error(`no package.json above ${from}`);
  }
}

interface Asset {
  file: string;
  type: string;
}

export const TOKEN_PLACEHOLDER = '__DINO_TOKEN__';
export const FEATURES_PLACEHOLDER = '__DINO_FEATURES__';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export class StaticAssets {
  readonly dashboardDir: string;
  private readonly assets: Map<string, Asset>;
  private readonly cache = new Map<string, Buffer>();

  constructor(root = packageRoot(), private readonly cacheFiles = true) {
    this.dashboardDir = join(root, 'src', 'serve', 'dashboard');
    const uplotDir = dirname(require.resolve('uplot', { paths: [root] }));
    const jsmpegDir = dirname(require.resolve('@cycjimmy/jsmpeg-player', { paths: [root] }));
    const js = 'text/javascript; charset=utf-8';
    const css = 'text/css; charset=utf-8';
    this.assets = new Map<string, Asset>([
      ['/app.js', { file: join(this.dashboardDir, 'app.js'), type: js }],
      ['/heatmap.js', { file: join(this.dashboardDir, 'heatmap.js'), type: js }],
      ['/pca.js', { file: join(this.dashboardDir, 'pca.js'), type: js }],
      ['/events.js', { file: join(this.dashboardDir, 'events.js'), type: js }],
      ['/sources.js', { file: join(this.dashboardDir, 'sources.js'), type: js }],
      ['/live.js', { file: join(this.dashboardDir, 'live.js'), type: js }],
      ['/style.css', { file: join(this.dashboardDir, 'style.css'), type: css }],
      ['/vendor/uPlot.iife.min.js', { file: join(uplotDir, 'uPlot.iife.min.js'), type: js }],
      ['/vendor/uPlot.min.css', { file: join(uplotDir, 'uPlot.min.css'), type: css }],
      ['/vendor/jsmpeg-player.umd.min.js', { file: join(jsmpegDir, 'jsmpeg-player.umd.min.js'), type: js }],
    ]);
  }

  has(path: string): boolean {
    return this.assets.has(path);
  }

  async get(path: string): Promise<{ body: Buffer; type: string } | undefined> {
    const a = this.assets.get(path);
    if (!a) return undefined;
    return { body: await this.read(a.file), type: a.type };
  }

  /**
   * index.html with the token written into a meta tag, so the page's websockets can carry it, and the optional
   * parts this agent serves (events, sources, live), so the page asks only for what exists.
   */
  async page(token: string | undefined, features: string[] = []): Promise<string> {
    const html = (await this.read(join(this.dashboardDir, 'index.html'))).toString('utf8');
    return html.replace(TOKEN_PLACEHOLDER, escapeHtml(token ?? '')).replace(FEATURES_PLACEHOLDER, escapeHtml(features.join(' ')));
  }

  private async read(file: string): Promise<Buffer> {
    const hit = this.cache.get(file);
    if (hit) return hit;
    const b = await readFile(file);
    if (this.cacheFiles) this.cache.set(file, b);
    return b;
  }
}
