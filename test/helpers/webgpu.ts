/**
 * WebGPU tests need an adapter: Mesa's (llvmpipe through EGL) or a GPU's. Whether one can be made is asked of a child
 * process once per test file, so that the decision is taken while jest collects the tests. Without one they are
 * skipped with the reason (what to install when Mesa is missing, as requireTool says it), and under CI they fail.
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
}

/** selectBackend({ backend }) in a fresh process with extra environment variables. */
export function probeBackend(backend: 'webgpu' | 'auto', env: Record<string, string> = {}): ProbeResult {
  const script = path.join(__dirname, 'webgpuProbe.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, backend], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env },
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
  if (line) return JSON.parse(line) as ProbeResult;
  const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-2).join(' | ');
  return { ok: false, reason: `probe failed: ${why}`, lines: [] };
}

let here: ProbeResult | undefined;

/** Whether a webgpu backend can be made here (software adapters included), asked once per test file. */
export function webgpuHere(): ProbeResult {
  here ??= probeBackend('webgpu');
  return here;
}

/** describe() when a WebGPU adapter can be made; otherwise skipped with the reason, or failing when CI is set. */
export function describeWithWebGPU(name: string, fn: () => void): void {
  const p = webgpuHere();
  if (p.ok) {
    describe(name, fn);
  } else if (!hasTool('mesa')) {
    requireTool('mesa')(name, fn);
  } else if (process.env.CI) {
    describe(name, () => {
      test('a WebGPU adapter can be made (CI installs Mesa for it)', () => {
        throw new Error(`no WebGPU adapter under CI: ${p.reason}`);
      });
    });
  } else {
    console.warn(`skipping "${name}": Mesa is installed but no WebGPU adapter can be made (${p.reason})`);
    describe.skip(name, fn);
  }
}

/** The adapter the probe found (for messages). */
export function webgpuAdapterName(): string {
  return webgpuHere().adapter?.name ?? 'none';
}
