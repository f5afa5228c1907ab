/**
 * Shared pieces of bench:train and bench:infer: the configurations compared (each in its own child process,
 * since the wasm thread count is fixed at backend init), medians, peak RSS, and table printing.
 */
import { spawnSync } from 'node:child_process';
import type { SelectBackendOptions } from '../src/backend';

export type BenchMode = 'native' | 'wasm' | 'wasm1' | 'cpu';
export const BENCH_MODES: Record<BenchMode, { label: string; opts: SelectBackendOptions }> = {
  native: { label: 'wasm + native kernels (2 threads)', opts: { backend: 'wasm', native: true } },
  wasm: { label: 'wasm SIMD, threaded, no native', opts: { backend: 'wasm', native: false } },
  wasm1: { label: 'wasm SIMD, 1 thread, no native', opts: { backend: 'wasm', native: false, threads: 1 } },
  cpu: { label: 'tfjs cpu (pure JS)', opts: { backend: 'cpu' } },
};

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
