/**
 * Multithreaded SIMD wasm in Node. tfjs-backend-wasm 4.22 forces WASM_HAS_MULTITHREAD_SUPPORT off under Node
 * (tfjs issue 3830), and forcing the flag is not enough: its pthread workers are created from a `blob:` URL and
 * load the main script from a Blob, neither of which Node's worker_threads can run. So we build the module
 * ourselves and swap the 'wasm' backend factory:
 *  - the worker script (wasm-out/...-threaded-simd.worker.js, exported as a string) goes to a temp .cjs file,
 *    which locateFile() returns; its Node prologue defines the globals it expects (self, importScripts, ...);
 *  - mainScriptUrlOrBlob is the path of the raw emscripten glue (wasm-out/...-threaded-simd.js), which the
 *    workers importScripts() (fs read + indirect eval) to define WasmBackendModuleThreadedSimd;
 *  - the C++ side caps XNNPACK's pool at min(8, emscripten_num_logical_cores() / 2): our instantiateWasm hook
 *    answers that import with 2n, then setThreadsCount(n) before BackendWasm's constructor asks for n;
 *  - workers get an 'error' guard (the glue's handler rethrows, which would kill the process) and an init
 *    timeout; any failure terminates the workers and falls back to the stock single-threaded SIMD factory;
 *  - after init, the pool threads are unref'd (emscripten ref()s running pthreads, which would keep the
 *    process alive) and the idle preallocated workers are terminated.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker as NodeWorker, WorkerOptions } from 'worker_threads';

import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const WASM_PRIORITY = 2; // what tfjs-backend-wasm registers with
const INIT_TIMEOUT_MS = 30000;
/** The C++ side caps the pool at 8 (the 8 workers emscripten preallocates). */
export const MAX_WASM_THREADS = 8;

export interface WasmThreadState {
  threaded: boolean;
  threads: number;
  detail: string;
}

let state: WasmThreadState | null = null;
let installedFor: number | null = null;

/** Outcome of the last wasm backend initialisation through our factory (null before it ran). */
export function wasmThreadState(): WasmThreadState | null {
  return state;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type EmModule = any;

function wasmOutDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js'));
}

/** Writes the pthread worker script to a content-addressed temp file (atomic rename: safe across processes). */
export function writeWorkerScript(dir = wasmOutDir()): string {
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The package ships the script inside a template literal, which turned its "\n" escapes into real newlines
  // inside string literals: escape them back, as tfjs does before making its Blob.
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = crypto.createHash('sha1').update(source).digest('hex').slice(0, 12);
  const file = path.join(os.tmpdir(), `dino-stream-tfjs-wasm-${hash}.worker.cjs`);
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== source) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, source);
    fs.renameSync(tmp, file);
  }
  return file;
}

/** Worker whose errors are reported to `onError` instead of the glue's rethrowing handler. */
function guardedWorkerClass(onError: (e: Error) => void): typeof NodeWorker {
  return class GuardedWorker extends NodeWorker {
    private glueOnError: ((e: unknown) => void) | null = null;
    constructor(file: string | URL, options?: WorkerOptions) {
      super(file, options);
      this.on('error', (e: Error) => onError(e));
    }
    get onerror(): (e: unknown) => void {
      return (e: unknown) => {
        try {
          this.glueOnError?.(e);
        } catch {
          /* the glue rethrows: already reported through onError */
        }
      };
    }
    set onerror(fn: (e: unknown) => void) {
      this.glueOnError = fn;
    }
  };
}

async function createThreadedModule(threads: number): Promise<EmModule> {
  const dir = wasmOutDir();
  const mainScript = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const workerFile = writeWorkerScript(dir);
  const factory = require(mainScript) as (config: EmModule) => Promise<EmModule>;

  let fail: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const config: EmModule = {
    locateFile: (p: string, prefix: string) => (p.endsWith('.worker.js') ? workerFile : prefix + p),
    mainScriptUrlOrBlob: mainScript,
    onAbort: (msg: unknown) => fail(new Error(`wasm module aborted: ${String(msg)}`)),
    // Same instantiation as the glue's, but the core count it reports is what lets the pool reach `threads`.
    instantiateWasm: (info: any, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) => {
      info.env.emscripten_num_logical_cores = () => 2 * threads;
      const bytes = fs.readFileSync(path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm'));
      WebAssembly.instantiate(bytes, info).then(
        (r) => receive(r.instance, r.module),
        (e: Error) => fail(new Error(`wasm instantiation failed: ${e.message}`)),
      );
      return {};
    },
  };
  const Guarded = guardedWorkerClass((e) => fail(new Error(`pthread worker failed: ${e.message}`)));
  // The glue assigns global.Worker = worker_threads.Worker and then spawns its pool with `new Worker(...)`:
  // make that assignment a no-op so the pool is made of guarded workers.
  const g = globalThis as any;
  Object.defineProperty(g, 'Worker', { configurable: true, get: () => Guarded, set: () => undefined });
  let ready: Promise<EmModule>;
  try {
    ready = factory(config);
  } finally {
    Object.defineProperty(g, 'Worker', { configurable: true, writable: true, value: Guarded });
  }
  ready.catch(() => undefined); // a late rejection after a timeout must not become an unhandled rejection
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`init timed out after ${INIT_TIMEOUT_MS} ms`)), INIT_TIMEOUT_MS);
    timer.unref();
  });
  try {
    return await Promise.race([ready, failed, timeout]);
  } catch (e) {
    try {
      config.PThread?.terminateAllThreads();
    } catch {
      /* best effort */
    }
    throw e;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Same bridge as tfjs-backend-wasm's init(). */
function attachTfjsBridge(module: EmModule): void {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
}

async function createThreadedBackend(threads: number): Promise<BackendWasm> {
  const module = await createThreadedModule(threads);
  attachTfjsBridge(module);
  setThreadsCount(threads);
  const backend = new BackendWasm(module); // spawns XNNPACK's pthreadpool (threads - 1 workers)
  const pthread = module.PThread as { runningWorkers: NodeWorker[]; unusedWorkers: NodeWorker[] };
  for (const w of pthread.runningWorkers) w.unref();
  for (const w of pthread.unusedWorkers.splice(0)) void w.terminate();
  const actual = module.tfjs.getThreadsCount() as number;
  state = { threaded: true, threads: actual, detail: `threaded SIMD, ${actual} threads` };
  return backend;
}

/**
 * Replaces the 'wasm' backend factory with the threaded one (before the backend is first initialised; no-op
 * and false afterwards). `log` receives the fallback reason if the threaded module cannot start.
 */
export function installThreadedWasm(threads: number, log: (msg: string) => void): boolean {
  const n = Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(threads)));
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (registry.wasm != null) return installedFor === n;
  if (installedFor === n) return true;
  const original = tf.findBackendFactory('wasm');
  if (original == null) return false;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', async () => {
    try {
      return await createThreadedBackend(n);
    } catch (e) {
      const why = (e as Error).message;
      log(`wasm: threaded SIMD unavailable (${why}); falling back to single-threaded SIMD`);
      setThreadsCount(1);
      state = { threaded: false, threads: 1, detail: `single-threaded SIMD (threads failed: ${why})` };
      return original();
    }
  }, WASM_PRIORITY);
  installedFor = n;
  return true;
}
