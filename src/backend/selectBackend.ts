/**
 * Picks and initialises the tfjs backend. 'auto' tries tensorflow (tfjs-node-gpu, then tfjs-node: optional
 * dependencies that fail to install on most machines, so a failed require is logged as skipped), then webgpu
 * (Dawn on a hardware adapter; a software one only when webgpu is asked for by name), then wasm
 * (SIMD, multithreaded in Node through wasmThreads.ts, plus the native kernels when the addon is built), then
 * the pure-JS cpu backend. Safe to call from every test file: a repeated call with the same options returns the
 * cached info without re-initialising anything.
 */
import * as os from 'os';

import * as tf from '@tensorflow/tfjs';

import { loadNativeAddon, type NativeAddon } from './nativeAddon';
import { nativeKernelsReason, registerNativeKernels, unregisterNativeKernels } from './nativeKernels';
import { installThreadedWasm, MAX_WASM_THREADS, wasmThreadState } from './wasmThreads';
import { describeAdapter, initWebGPU, type WebGPUAdapterSummary } from './webgpuBackend';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];
/** Matmul precision asked for: 'auto' = bf16 where the CPU has AVX512_BF16 (and the native kernels run), else fp32. */
export type PrecisionOption = 'auto' | 'fp32' | 'bf16';
/** What runs: bf16-emulated is bf16's numbers from fp32 FMAs (a CPU without AVX512_BF16 asked for bf16). */
export type Precision = 'fp32' | 'bf16' | 'bf16-emulated';

export interface BackendInfo {
  name: BackendName;
  /** Threads of the heavy kernels: the native pool when native kernels are active, else the backend's own. */
  threads: number;
  simd: boolean;
  /** Native (N-API) kernels active for this backend. */
  native: boolean;
  gpu: boolean;
  /** Matmul operands: fp32, or bf16 with fp32 accumulation (weights, optimiser, loss and norms stay fp32). */
  precision: Precision;
  detail: string;
  /** The WebGPU adapter, on the webgpu backend. */
  adapter?: WebGPUAdapterSummary;
}

export interface SelectBackendOptions {
  backend?: 'auto' | BackendName;
  /** Default: number of cores. */
  threads?: number;
  /** Native kernels on the wasm backend (default true; DINO_NATIVE=0 also disables them). */
  native?: boolean;
  /** XNNPACK pool of the wasm backend (default: threads); fixed at the first wasm initialisation. */
  wasmThreads?: number;
  /** Matmul precision (default 'auto'; env DINO_PRECISION when not given). bf16 needs the native kernels. */
  precision?: PrecisionOption;
  log?: (msg: string) => void;
}

const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let cached: { key: string; info: BackendInfo } | null = null;

export function defaultThreads(): number {
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, n);
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

const defaultLog = (msg: string): void => console.log(`[dino-stream] ${msg}`);

/** Tries tfjs-node-gpu then tfjs-node; never throws. */
async function tryTensorflow(log: (m: string) => void): Promise<{ info: BackendInfo } | { reason: string }> {
  const reasons: string[] = [];
  for (const pkg of TENSORFLOW_PACKAGES) {
    try {
      require(pkg);
    } catch (e) {
      const why = firstLine(e);
      log(`backend: skipped ${pkg} (${why})`);
      reasons.push(`${pkg}: ${why}`);
      continue;
    }
    try {
      if (!(await tf.setBackend('tensorflow'))) throw new Error(`tf.setBackend('tensorflow') failed after loading ${pkg}`);
      await tf.ready();
      const gpu = pkg.endsWith('-gpu');
      return {
        info: { name: 'tensorflow', threads: defaultThreads(), simd: true, native: false, gpu, precision: 'fp32', detail: `tensorflow (${pkg})` },
      };
    } catch (e) {
      const why = firstLine(e);
      log(`backend: skipped ${pkg} (${why})`);
      reasons.push(`${pkg}: ${why}`);
    }
  }
  return { reason: reasons.join('; ') };
}

/** Dawn's WebGPU on the best adapter; never throws. */
async function tryWebGPU(forced: boolean, log: (m: string) => void): Promise<{ info: BackendInfo } | { reason: string }> {
  const r = await initWebGPU({ allowSoftware: forced, log });
  if ('reason' in r) {
    log(`backend: skipped webgpu (${r.reason})`);
    return r;
  }
  const a = r.adapter;
  return {
    info: { name: 'webgpu', threads: defaultThreads(), simd: false, native: false, gpu: !a.software, precision: 'fp32', detail: describeAdapter(a), adapter: a },
  };
}

/** Sets the addon's matmul precision for `want`, detected from cpuid. */
function applyPrecision(addon: NativeAddon, want: PrecisionOption): Precision {
  if (typeof addon.setPrecision !== 'function') {
    if (want === 'bf16') throw new Error('the native addon predates bf16: rebuild it (npm run build:native)');
    return 'fp32';
  }
  const p: Precision = want === 'fp32' ? 'fp32' : addon.hasAvx512Bf16 ? 'bf16' : want === 'bf16' ? 'bf16-emulated' : 'fp32';
  if (!addon.setPrecision(p === 'fp32' ? 0 : p === 'bf16' ? 1 : 2)) throw new Error(`the native kernels refused precision ${p}`);
  return p;
}

function precisionDetail(p: Precision, addon: NativeAddon): string {
  if (typeof addon.setPrecision !== 'function') return 'fp32 matmuls (addon built before bf16)';
  const cpu = addon.hasAvx512Bf16 ? 'CPU has AVX512_BF16' : 'CPU lacks AVX512_BF16';
  if (p === 'bf16-emulated') return `bf16 matmuls emulated with fp32 FMAs (${cpu}): bf16 numbers, slower than fp32`;
  return p === 'bf16' ? `bf16 matmuls with VDPBF16PS, fp32 accumulation (${cpu})` : `fp32 matmuls (${cpu})`;
}

export function precisionOption(opts: SelectBackendOptions): PrecisionOption {
  const v = opts.precision ?? (process.env.DINO_PRECISION?.trim().toLowerCase() || 'auto');
  if (v !== 'auto' && v !== 'fp32' && v !== 'bf16') throw new Error(`precision must be auto, fp32 or bf16, got '${v}'`);
  return v;
}

async function initWasm(
  threads: number, wasmThreadsOpt: number | undefined, threadsExplicit: boolean, native: boolean,
  want: PrecisionOption, log: (m: string) => void,
): Promise<BackendInfo> {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  // Under jest every test file gets a fresh tfjs whose pthread workers (and their shared heap) would outlive
  // the file; tests get single-threaded wasm unless they ask for threads explicitly.
  let wasmThreads = Math.min(wasmThreadsOpt ?? threads, MAX_WASM_THREADS);
  if (process.env.JEST_WORKER_ID !== undefined && !threadsExplicit) wasmThreads = 1;
  if (wasmThreads > 1) installThreadedWasm(wasmThreads, log);
  else if (!(tf.engine() as unknown as { registry: Record<string, unknown> }).registry.wasm) wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false (see the warning above)");
  await tf.ready();
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  const actualWasmThreads = wasm.getThreadsCount();
  const st = wasmThreadState();
  let nativeOn = false;
  let nativeDetail: string;
  let precision: Precision = 'fp32';
  if (native) {
    nativeOn = registerNativeKernels();
    const addon = loadNativeAddon().addon;
    if (nativeOn && addon) {
      addon.setThreads(threads);
      precision = applyPrecision(addon, want);
      nativeDetail = `native kernels on (${addon.isa}, ${addon.getThreads()} threads, ${precisionDetail(precision, addon)})`;
    } else {
      nativeDetail = `native kernels off (${nativeKernelsReason()})`;
    }
  } else {
    unregisterNativeKernels();
    nativeDetail = 'native kernels off (native: false)';
  }
  const addonThreads = nativeOn ? loadNativeAddon().addon?.getThreads() ?? 1 : 0;
  const wasmDetail = st?.threaded
    ? `SIMD ${actualWasmThreads} threads`
    : `${simd ? 'SIMD' : 'no SIMD'} 1 thread${st && !st.threaded ? ` (${st.detail})` : ''}`;
  return {
    name: 'wasm',
    threads: nativeOn ? addonThreads : actualWasmThreads,
    simd,
    native: nativeOn,
    gpu: false,
    precision,
    detail: `wasm ${wasmDetail}; ${nativeDetail}`,
  };
}

export async function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendInfo> {
  const want = opts.backend ?? 'auto';
  const log = opts.log ?? defaultLog;
  if (want !== 'auto' && !BACKEND_NAMES.includes(want)) throw new Error(`unknown backend '${want}'`);
  for (const k of ['threads', 'wasmThreads'] as const) {
    const v = opts[k];
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new Error(`${k} must be a positive integer, got ${v}`);
  }
  const threads = opts.threads ?? defaultThreads();
  const native = opts.native !== false;
  const precision = precisionOption(opts);
  const key = JSON.stringify({ want, threads, native, precision, wasmThreads: opts.wasmThreads, env: process.env.DINO_NATIVE ?? '' });
  if (cached && cached.key === key && tf.getBackend() === cached.info.name) return cached.info;

  let info: BackendInfo | null = null;
  if (want === 'tensorflow' || want === 'auto') {
    const r = await tryTensorflow(log);
    if ('info' in r) info = r.info;
    else if (want === 'tensorflow') throw new Error(`backend 'tensorflow' cannot be loaded: ${r.reason}`);
  }
  if (info === null && (want === 'webgpu' || want === 'auto')) {
    const r = await tryWebGPU(want === 'webgpu', log);
    if ('info' in r) info = r.info;
    else if (want === 'webgpu') throw new Error(`backend 'webgpu' cannot be loaded: ${r.reason}`);
  }
  if (info === null && (want === 'wasm' || want === 'auto')) {
    try {
      info = await initWasm(threads, opts.wasmThreads, opts.threads !== undefined || opts.wasmThreads !== undefined,
        native, precision, log);
    } catch (e) {
      if (want === 'wasm') throw new Error(`backend 'wasm' cannot be loaded: ${firstLine(e)}`);
      log(`backend: skipped wasm (${firstLine(e)})`);
    }
  }
  if (info === null) {
    if (!(await tf.setBackend('cpu'))) throw new Error("backend 'cpu' cannot be loaded: tf.setBackend('cpu') failed");
    await tf.ready();
    info = { name: 'cpu', threads: 1, simd: false, native: false, gpu: false, precision: 'fp32', detail: 'cpu (pure JS)' };
  }
  if (precision === 'bf16' && info.precision === 'fp32') log('backend: precision bf16 needs the native kernels on wasm; running fp32');
  log(`backend: ${info.detail}`);
  cached = { key, info };
  return info;
}
