import { spawnSync } from 'node:child_process';

/**
 * Whether ffmpeg runs here. Tests that need it skip without it, except under CI (CI set), where a missing tool
 * is an error: CI must never skip.
 */
export function hasFfmpeg(): boolean {
  const ok = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
  if (!ok && process.env['CI']) throw new Error('ffmpeg is missing on CI: install it (.ci/run APT_PACKAGES)');
  if (!ok) console.warn('ffmpeg not found: skipping the tests that need it');
  return ok;
}
