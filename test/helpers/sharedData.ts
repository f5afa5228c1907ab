import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The repository root: the nearest folder above this file whose package.json is dino-stream's (from test/ or dist/test/). */
export const REPO_ROOT = ((): string => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dino-stream') return dir;
  }
  throw new Error(`no dino-stream package.json above ${__dirname}`);
})();

/** The shared test data (CIFAR-10 subset, camera clips): `../shared/data` beside the repository. */
export const SHARED_DATA = path.resolve(REPO_ROOT, '../shared/data');

/**
 * A path under the shared data, e.g. `sharedData('cifar10/test')` or `sharedData('video/vtest_h264.mp4')`.
 * Throws, naming where it looked, when it is not there: every test that reads fixtures finds them this one way.
 */
export function sharedData(...parts: string[]): string {
  const p = path.join(SHARED_DATA, ...parts);
  if (!existsSync(p)) throw new Error(`test data ${p} not found: the shared data (CIFAR-10 subset, camera clips) belongs in ../shared/data beside the repository`);
  return p;
}
