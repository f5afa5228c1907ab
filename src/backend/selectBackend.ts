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

import { loadNativeAddon } from './nativeAddon';
import { nativeKernelsReason, registerNativeKernels, unregisterNativeKernels } from './nativeKernels';
import { installThreadedWasm, MAX_WASM_THREADS, wasmThreadState } from './wasmThreads';
import { describeAdapter, initWebGPU, type WebGPUAdapterSummary } from './webgpuBackend';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendInfo {
  name: BackendName;
  /** Threads of the heavy kernels: the native pool when native kernels are active, else the backend's own. */
  threads: number;
  simd: boolean;
  /** Native (N-API) kernels active for this backend. */
  native: boolean;
  gpu: boolean;
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
        info: { name: 'tensorflow', threads: defaultThreads(), simd: true, native: false, gpu, detail: `tensorflow (${pkg})` },
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
    info: { name: 'webgpu', threads: defaultThreads(), simd: false, native: false, gpu: !a.software, detail: describeAdapter(a), adapter: a },
  };
}

async function initWasm(
  threads: number, wasmThreadsOpt: number | undefined, threadsExplicit: boolean, native: boolean,
  log: (m: string) => void,
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
  if (native) {
    nativeOn = registerNativeKernels();
    const addon = loadNativeAddon().addon;
    if (nativeOn && addon) {
      addon.setThreads(threads);
      nativeDetail = `native kernels on (${addon.isa}, ${addon.getThreads()} threads)`;
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
  const key = JSON.stringify({ want, threads, native, wasmThreads: opts.wasmThreads, env: process.env.DINO_NATIVE ?? '' });
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
        native, log);
    } catch (e) {
      if (want === 'wasm') throw new Error(`backend 'wasm' cannot be loaded: ${firstLine(e)}`);
      log(`backend: skipped wasm (${firstLine(e)})`);
    }
  }
  if (info === null) {
    if (!(await tf.setBackend('cpu'))) throw new Error("backend 'cpu' cannot be loaded: tf.setBackend('cpu') failed");
    await tf.ready();
    info = { name: 'cpu', threads: 1, simd: false, native: false, gpu: false, detail: 'cpu (pure JS)' };
  }
  log(`backend: ${info.detail}`);
  cached = { key, info };
  return info;
}
