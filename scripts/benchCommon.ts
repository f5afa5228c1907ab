/**
 * Shared pieces of bench:train and bench:infer: the configurations compared (each in its own child process,
 * since the wasm thread count is fixed at backend init), medians, peak RSS, and table printing.
 */
import { spawnSync } from 'node:child_process';
import type { BackendInfo, SelectBackendOptions } from '../src/backend';

export type BenchMode = 'native' | 'wasm' | 'wasm1' | 'cpu' | 'webgpu';
export const BENCH_MODES: Record<BenchMode, { label: string; opts: SelectBackendOptions }> = {
  native: { label: 'wasm + native kernels (2 threads)', opts: { backend: 'wasm', native: true } },
  wasm: { label: 'wasm SIMD, threaded, no native', opts: { backend: 'wasm', native: false } },
  wasm1: { label: 'wasm SIMD, 1 thread, no native', opts: { backend: 'wasm', native: false, threads: 1 } },
  cpu: { label: 'tfjs cpu (pure JS)', opts: { backend: 'cpu' } },
  webgpu: { label: 'webgpu (Dawn)', opts: { backend: 'webgpu' } },
};

/** What a bench child reports about its backend. */
export interface BenchBackend {
  backend: string;
  /** The WebGPU adapter's name, on webgpu. */
  adapter?: string;
  /** The WebGPU adapter ran in software (Mesa's llvmpipe): its numbers only show that the path works. */
  softwareAdapter?: boolean;
}

/** What a bench child reports about the backend it ran on. */
export function benchBackend(info: BackendInfo): BenchBackend {
  return { backend: info.detail, adapter: info.adapter?.name, softwareAdapter: info.adapter?.software };
}

/** Warm-up and measured steps: fewer by default on a software WebGPU adapter, where one step takes minutes. */
export function stepCounts(info: BackendInfo, dflt: { warmup: number; steps: number }): { warmup: number; steps: number } {
  const slow = info.adapter?.software === true;
  return {
    warmup: Number(arg('warmup', String(slow ? Math.min(dflt.warmup, 1) : dflt.warmup))),
    steps: Number(arg('steps', String(slow ? Math.min(dflt.steps, 2) : dflt.steps))),
  };
}

/** The adapter each webgpu run used, and whether its numbers mean anything. */
export function webgpuNotes(results: { mode: BenchMode; result?: BenchBackend }[]): string[] {
  return results.flatMap(({ mode, result }) => {
    if (mode !== 'webgpu' || !result) return [];
    return [result.softwareAdapter
      ? `webgpu ran on the software adapter ${result.adapter} (the CPU running the GPU code): its numbers are a smoke test that the path works, not a GPU speed`
      : `webgpu ran on ${result.backend}`];
  });
}

export { median } from '../src/util/median';

/** Backend options of a configuration, with --precision (auto | fp32 | bf16) and --threads when given. */
export function modeOptions(mode: BenchMode): SelectBackendOptions {
  const p = arg('precision', ''), t = Number(arg('threads', '0'));
  return {
    ...BENCH_MODES[mode].opts,
    ...(p ? { precision: p as SelectBackendOptions['precision'] } : {}),
    ...(t > 0 ? { threads: t } : {}),
  };
}

/** The flags a parent passes on to its children unchanged. */
export function passOn(names: string[]): string[] {
  return names.flatMap((k) => (process.argv.includes(`--${k}`) ? [`--${k}`, arg(k, '')] : []));
}

export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

/** Runs this script once per mode as a child (`--child <mode>`), collecting one JSON line from each. */
export function runModes<T>(script: string, modes: BenchMode[], extra: string[]): { mode: BenchMode; result?: T; error?: string }[] {
  return modes.map((mode) => {
    const r = spawnSync(process.execPath, [script, '--child', mode, ...extra], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{"bench"'));
    if (r.status !== 0 || !line) return { mode, error: (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ') };
    return { mode, result: (JSON.parse(line) as { bench: T }).bench };
  });
}

export function table(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** A process's /metrics, tried 3 times a second apart (a kept-alive connection the server has just closed resets the first try). */
export async function scrapeMetrics(port: number): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    } catch (e) {
      if (attempt === 2) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
