/**
 * The tfjs WebGPU backend in Node through Dawn (`webgpu` on npm, a prebuilt dawn.node in its tarball) and
 * `@tensorflow/tfjs-backend-webgpu`: both optional dependencies, so a missing package is a reason, not an error.
 *
 * Adapters are tried as Dawn offers them on Linux: its default instance (Vulkan: NVIDIA's and AMD's drivers), then
 * OpenGL ES through EGL at the compatibility feature level (any Mesa or vendor EGL; headless, EGL needs
 * EGL_PLATFORM=surfaceless, set here when no display is configured). A software adapter (Mesa's llvmpipe) is taken
 * only when asked for: it runs the same shaders on the CPU, far slower than the wasm backend, which is what makes
 * it a correctness check in CI and nothing more.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

import * as tf from '@tensorflow/tfjs';

import { keepEglLoaded, prepareHeadlessEgl } from './headlessEgl';

/** The part of the WebGPU API used here (typed locally: the packages are optional). */
interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}
interface GpuDevice {
  lost: Promise<{ reason: string; message: string }>;
  addEventListener(type: 'uncapturederror', cb: (ev: { error: { message: string } }) => void): void;
  destroy(): void;
}
interface GpuAdapter {
  info: GpuAdapterInfo;
  limits: Record<string, number>;
  features: ReadonlySet<string>;
  requestDevice(desc?: { requiredLimits?: Record<string, number>; requiredFeatures?: string[] }): Promise<GpuDevice>;
}
interface Gpu {
  requestAdapter(opts?: { featureLevel?: 'core' | 'compatibility'; powerPreference?: string }): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}
type TensorInfoLike = { values: unknown };
type WebGPUBackendClass = new (device: GpuDevice, info?: { vendor: string; architecture: string }) => tf.KernelBackend & {
  tensorMap: { get(id: object): TensorInfoLike };
};

/** Dawn's backends tried in order: the default instance (Vulkan on Linux), then OpenGL ES over EGL. */
const ATTEMPTS = [
  { backendType: 'vulkan', flags: [] as string[], request: { powerPreference: 'high-performance' } },
  { backendType: 'opengles', flags: ['backend=opengles'], request: { featureLevel: 'compatibility' as const } },
] as const;

/** Limits tfjs's own WebGPU factory raises to the adapter's (the defaults are too small for its shaders). */
const RAISED_LIMITS = [
  'maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupSizeZ', 'maxComputeInvocationsPerWorkgroup',
];

/** Where the Vulkan loader looks for drivers (ICD manifests) on Linux. */
function vulkanIcdDirs(): string[] {
  const env = process.env;
  const config = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':');
  const data = [env.XDG_DATA_HOME || path.join(os.homedir(), '.local/share'), ...(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':')];
  return [...config, '/etc', ...data].filter(Boolean).map((d) => path.join(d, 'vulkan', 'icd.d'));
}

/** Null when a Vulkan driver may be found; else why not (Dawn is not asked then: it would only print warnings). */
function noVulkanDriver(): string | null {
  if (process.platform !== 'linux' || process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return null;
  const dirs = vulkanIcdDirs();
  const found = dirs.some((d) => {
    try {
      return fs.readdirSync(d).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
  return found ? null : `no Vulkan driver (no ICD manifest in ${dirs.filter((d) => d.startsWith('/etc') || d.startsWith('/usr')).join(', ')})`;
}

/**
 * Without a GPU device node (a DRM render node, NVIDIA's, WSL's) EGL can only open Mesa's software renderer: the
 * OpenGL ES attempt is skipped unless a software adapter is acceptable (which also spares the log Dawn's limit
 * warnings, printed on stderr when it opens that adapter).
 */
function noGpuDevice(): string | null {
  if (process.platform !== 'linux') return null;
  const has = (dir: string, re: RegExp) => {
    try {
      return fs.readdirSync(dir).some((f) => re.test(f));
    } catch {
      return false;
    }
  };
  if (has('/dev/dri', /^renderD\d+$/) || has('/dev', /^(nvidia\d+|dxg)$/)) return null;
  return 'no GPU device (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg): only a software adapter could open (force it with --backend webgpu)';
}

/** Dawn dlopens the unversioned libEGL.so, which distributions ship in their EGL development package. */
function eglLibraryHint(): string {
  if (process.platform !== 'linux') return '';
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, '/usr/lib64', '/usr/lib', '/lib64'];
  if (dirs.some((d) => d && fs.existsSync(path.join(d, 'libEGL.so')))) return '';
  return ' (no libEGL.so found, which Dawn loads: install libegl-dev, or link it to libEGL.so.1)';
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

export interface WebGPUAdapterSummary {
  /** Dawn's backend: 'vulkan' or 'opengles'. */
  backendType: string;
  /** The adapter's device name (e.g. 'NVIDIA GeForce RTX 4090', 'llvmpipe-llvm-15-...'). */
  name: string;
  /** PCI vendor name as Dawn reports it ('nvidia', 'amd', ...; empty when the driver does not say). */
  vendor: string;
  description: string;
  /** A CPU implementation of the API (llvmpipe, lavapipe, SwiftShader): correct, but no faster than the CPU. */
  software: boolean;
}

export interface WebGPUInitOptions {
  /** Accept a software adapter (only when webgpu was asked for by name). */
  allowSoftware: boolean;
  log: (msg: string) => void;
}

export type WebGPUInit = { adapter: WebGPUAdapterSummary } | { reason: string };

/** One device per thread (each worker thread loads dawn.node and makes its own), reused across backend switches. */
let active: { adapter: WebGPUAdapterSummary; device: GpuDevice; backend: tf.KernelBackend } | null = null;
/**
 * Every Dawn instance made here, never released: dawn.node keeps processing an instance's events from a timer, and
 * one collected after it made a device (one refused in initWebGPU) crashes the process with a use after free.
 */
const instances: Gpu[] = [];
/** Errors Dawn reported outside any call (validation, out of memory): WebGPU reports them asynchronously. */
const deviceErrors: string[] = [];

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}

/** The package is ESM-only; its entry only picks the platform's dawn.node, which loads from CommonJS as is. */
function loadDawn(): DawnModule {
  const req = createRequire(__filename);
  const dir = path.dirname(req.resolve('webgpu/package.json'));
  const platform = process.platform === 'darwin' ? 'darwin-universal' : `${process.platform}-${process.arch}`;
  return req(path.join(dir, 'dist', platform, 'dawn.node')) as DawnModule;
}

function summarize(backendType: string, info: GpuAdapterInfo): WebGPUAdapterSummary {
  const name = info.device || info.description || info.architecture || 'unnamed adapter';
  return {
    backendType,
    name,
    vendor: info.vendor,
    description: info.description,
    software: info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(`${info.device} ${info.description}`),
  };
}

function softwareOnly(a: WebGPUAdapterSummary): string {
  return `${a.backendType}: only the software adapter ${a.name} (force it with --backend webgpu)`;
}

export function describeAdapter(a: WebGPUAdapterSummary): string {
  const kind = a.software ? 'software adapter: a correctness check, not a GPU' : 'hardware adapter';
  return `webgpu (Dawn ${a.backendType}: ${a.name}, vendor ${a.vendor || 'not reported'}${a.description ? `, ${a.description}` : ''}; ${kind})`;
}

/** Errors Dawn reported since the last call (and clears them): tests assert there were none. */
export function takeWebGPUErrors(): string[] {
  return deviceErrors.splice(0);
}

/**
 * tfjs's WebGPU backend reads a GPU buffer synchronously through an OffscreenCanvas, which Node lacks: keep what
 * works (values already on the CPU) and otherwise say what to do instead.
 */
function nodeBackendClass(Base: WebGPUBackendClass): WebGPUBackendClass {
  return class NodeWebGPUBackend extends Base {
    override readSync(dataId: object): tf.backend_util.BackendValues {
      if (this.tensorMap.get(dataId).values == null) {
        throw new Error('dataSync()/arraySync() cannot read a GPU buffer on the webgpu backend in Node: use await tensor.data()');
      }
      return super.readSync(dataId);
    }
  };
}

interface Opened {
  gpu: Gpu;
  adapter: WebGPUAdapterSummary;
  info: GpuAdapterInfo;
  device: GpuDevice;
}

async function openAdapter(dawn: DawnModule, allowSoftware: boolean, log: (m: string) => void): Promise<Opened | { reason: string }> {
  const reasons: string[] = [];
  for (const attempt of ATTEMPTS) {
    const missing = attempt.backendType === 'vulkan' ? noVulkanDriver() : allowSoftware ? null : noGpuDevice();
    if (missing) {
      reasons.push(`${attempt.backendType}: ${missing}`);
      continue;
    }
    if (attempt.backendType === 'opengles') {
      prepareHeadlessEgl();
      keepEglLoaded();
    }
    let adapter: GpuAdapter | null;
    const gpu = dawn.create([...attempt.flags]);
    instances.push(gpu);
    try {
      adapter = await gpu.requestAdapter(attempt.request);
    } catch (e) {
      reasons.push(`${attempt.backendType}: ${firstLine(e)}`);
      continue;
    }
    if (!adapter) {
      const headless = !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY && process.env.EGL_PLATFORM !== 'surfaceless';
      const hint = attempt.backendType !== 'opengles' ? ''
        : eglLibraryHint() || (headless ? ' (headless EGL needs EGL_PLATFORM=surfaceless in the environment)' : '');
      reasons.push(`${attempt.backendType}: no adapter${hint}`);
      continue;
    }
    const summary = summarize(attempt.backendType, adapter.info);
    if (summary.software && !allowSoftware) {
      reasons.push(softwareOnly(summary));
      continue;
    }
    const requiredLimits: Record<string, number> = {};
    for (const k of RAISED_LIMITS) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k]!;
    const device = await adapter.requestDevice({ requiredLimits });
    let errors = 0;
    device.addEventListener('uncapturederror', (ev) => {
      const msg = firstLine(ev.error.message);
      if (deviceErrors.length < 100) deviceErrors.push(msg);
      // a broken shader fails at every dispatch: the first ones say what, the rest would only flood the log
      if (++errors <= 10) log(`webgpu device error: ${msg}${errors === 10 ? ' (further device errors are not logged)' : ''}`);
    });
    void device.lost.then((l) => {
      if (active?.device === device) active = null;
      if (l.reason !== 'destroyed') log(`webgpu device lost (${l.reason}): ${l.message}`);
    });
    return { gpu, adapter: summary, device, info: adapter.info };
  }
  return { reason: reasons.join('; ') };
}

/**
 * Makes 'webgpu' the tfjs backend on the best adapter Dawn finds; never throws (a reason comes back instead).
 */
export async function initWebGPU(opts: WebGPUInitOptions): Promise<WebGPUInit> {
  if (active && tf.findBackend('webgpu') === active.backend) {
    if (active.adapter.software && !opts.allowSoftware) return { reason: softwareOnly(active.adapter) };
    if (!(await tf.setBackend('webgpu'))) return { reason: "tf.setBackend('webgpu') failed" };
    return { adapter: active.adapter };
  }
  let dawn: DawnModule;
  let tfWebGPU: { WebGPUBackend: WebGPUBackendClass };
  try {
    dawn = loadDawn();
    // required before navigator.gpu exists: at import it would otherwise register its own factory, which asks
    // for the default adapter (Vulkan, core features) and cannot reach OpenGL ES
    tfWebGPU = require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: WebGPUBackendClass };
  } catch (e) {
    return { reason: `not installed (${firstLine(e)})` };
  }
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (g[k] === undefined) g[k] = v;

  let opened: Opened | { reason: string };
  try {
    opened = await openAdapter(dawn, opts.allowSoftware, opts.log);
  } catch (e) {
    return { reason: firstLine(e) };
  }
  if ('reason' in opened) return opened;
  const { gpu, device, adapter, info } = opened;

  // tfjs's backend checks navigator.gpu before it accepts a device
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  if (g.navigator === undefined) Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });

  const Backend = nodeBackendClass(tfWebGPU.WebGPUBackend);
  const backend = new Backend(device, { vendor: info.vendor, architecture: info.architecture });
  if (tf.findBackend('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend);
  try {
    if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false");
    await tf.ready();
  } catch (e) {
    tf.removeBackend('webgpu');
    device.destroy();
    return { reason: firstLine(e) };
  }
  active = { adapter, device, backend };
  return { adapter };
}
