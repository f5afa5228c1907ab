/**
 * WebGPU tests need an adapter: Mesa's (llvmpipe through EGL, which CI installs) or a GPU's. With Mesa installed they
 * run, and fail if no adapter can be made; without it a child process asks Dawn once per test file whether a GPU
 * adapter is there, and if not the tests are skipped with what to install (failing under CI), as requireTool does.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import type { WebGPUAdapterSummary } from '../../src/backend/webgpuBackend';
import { hasTool, requireTool } from './requireTool';

export interface ProbeResult {
  ok: boolean;
  /** The backend selectBackend chose. */
  name?: string;
  adapter?: WebGPUAdapterSummary;
  detail?: string;
  reason?: string;
  /** What selectBackend logged. */
  lines: string[];
  /** What the probe's process wrote on stderr (Dawn writes its own warnings there). */
  stderr?: string;
}

/** selectBackend({ backend }) in a fresh process with extra environment variables. */
export function probeBackend(backend: 'webgpu' | 'auto', env: Record<string, string> = {}): ProbeResult {
  const script = path.join(__dirname, 'webgpuProbe.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, backend], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env },
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
  if (line) return { ...(JSON.parse(line) as ProbeResult), stderr: r.stderr ?? '' };
  const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-2).join(' | ');
  return { ok: false, reason: `probe failed: ${why}`, lines: [] };
}

let testable: boolean | undefined;

/** Whether the webgpu tests run here: Mesa is installed, or a GPU adapter can be made without it. */
export function webgpuTestable(): boolean {
  testable ??= hasTool('mesa') || probeBackend('webgpu').ok;
  return testable;
}

/** describe() where webgpu is testable; otherwise skipped with what to install, or failing when CI is set. */
export function describeWithWebGPU(name: string, fn: () => void): void {
  if (webgpuTestable()) describe(name, fn);
  else requireTool('mesa')(name, fn);
}
