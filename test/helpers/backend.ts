import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';

/**
 * Switch the test process to a tfjs backend: 'cpu' for exact float32 references, 'wasm' for the product path
 * (with the native kernels when they built, as the agent runs it), 'webgpu' on any adapter, software included
 * (see helpers/webgpu for when it is there).
 */
export async function useBackend(name: 'cpu' | 'wasm' | 'webgpu'): Promise<void> {
  if (name === 'cpu') await tf.setBackend('cpu');
  else await selectBackend({ backend: name, log: () => undefined });
  await tf.ready();
}

/** Max |a-b| / (atol + rtol*|b|) over all elements; <= 1 means within tolerance. */
export function maxToleranceRatio(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!));
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}

export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol = 0, what = ''): void {
  const r = maxToleranceRatio(a, b, atol, rtol);
  if (r > 1) {
    let idx = 0;
    let worst = -1;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      if (d > worst) {
        worst = d;
        idx = i;
      }
    }
    throw new Error(`${what}: not close (ratio ${r.toFixed(2)}); worst at [${idx}]: ${a[idx]} vs ${b[idx]}`);
  }
}
