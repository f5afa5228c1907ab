/** Shared helpers of the backend tests: seeded data, a cpu-backend reference runner, tolerant comparisons. */
import * as tf from '@tensorflow/tfjs';

import { Random } from '../../src/util/Random';
import { loadNativeAddon } from '../../src/backend/nativeAddon';
import { nativeDisabledByEnv } from '../../src/backend/nativeKernels';

export const quiet = (): void => undefined;

export const nativeAvailable = !nativeDisabledByEnv() && loadNativeAddon().addon !== null;
/** describe() when the addon is built, describe.skip() otherwise (the wasm fallback tests still run). */
export const describeNative = nativeAvailable ? describe : describe.skip;

export function randArray(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.normal() * scale;
  return out;
}

/** Switches to the cpu backend without its one-time "install tfjs-node" banner (noise in tests). */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
}

/** Runs `fn` on the cpu backend with plain tf ops and returns the outputs' data; switches back afterwards. */
export async function onCpu(fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  const prev = tf.getBackend();
  await useCpu();
  try {
    const outs = tf.tidy(() => {
      const r = fn();
      return Array.isArray(r) ? r : [r];
    });
    const data = outs.map((t) => t.dataSync() as Float32Array);
    tf.dispose(outs);
    return data;
  } finally {
    await tf.setBackend(prev);
  }
}

/** Reads and disposes. */
export function take(ts: tf.Tensor | tf.Tensor[]): Float32Array[] {
  const arr = Array.isArray(ts) ? ts : [ts];
  const data = arr.map((t) => t.dataSync() as Float32Array);
  tf.dispose(arr);
  return data;
}

/** Max |a - b| / (atol + rtol |b|) must be <= 1; reports the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    const r = Number.isNaN(a) || Number.isNaN(e) ? Infinity : Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  if (worst > 1) {
    throw new Error(`mismatch at ${at}: got ${actual[at]}, expected ${expected[at]} (ratio ${worst.toFixed(2)})`);
  }
}

/** Asserts that every test of the file leaves tf.memory().numTensors unchanged. */
export function trackLeaks(): void {
  let before = 0;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    expect(tf.memory().numTensors).toBe(before);
  });
}
