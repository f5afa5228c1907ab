import { isMainThread } from 'node:worker_threads';

/**
 * Mesa's EGL picks its platform from EGL_PLATFORM and fails eglInitialize when there is no display; the
 * surfaceless platform needs none. Only the main thread of a process can set it (a worker's process.env, like a
 * jest sandbox's, is a copy that never reaches the C environment), so the main thread calls this before it starts
 * a trainer worker that may use webgpu, and jest's global setup does for the tests.
 */
export function prepareHeadlessEgl(): void {
  if (!isMainThread || process.env.EGL_PLATFORM) return;
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) return;
  process.env.EGL_PLATFORM = 'surfaceless';
}

/** glibc's dlopen flags (os.constants.dlopen lacks RTLD_NODELETE). */
const RTLD_NOW = 0x2;
const RTLD_NODELETE = 0x1000;
let eglPinned = false;

/**
 * Keeps glvnd's libEGL.so mapped for the life of the process. Dawn dlopens it per instance and dlcloses it when
 * the instance goes away, as a trainer worker's does when the worker exits; EGL's thread-specific data can then
 * have destructors pointing into unmapped code, which crashes the process (SIGSEGV) when such a thread ends.
 * Loaded once with RTLD_NODELETE, the library stays whatever Dawn does.
 */
export function keepEglLoaded(): void {
  if (eglPinned || process.platform !== 'linux') return;
  eglPinned = true;
  try {
    process.dlopen({ exports: {} }, 'libEGL.so', RTLD_NOW | RTLD_NODELETE);
  } catch {
    // 'did not self-register' (it is no Node module) is expected and leaves it loaded; a missing libEGL.so is
    // reported by Dawn's attempt itself
  }
}
