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
