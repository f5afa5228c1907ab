/**
 * What every op in src/ops is checked with, as tfjs-core checks its ops: its value against a plain float64
 * computation, its gradient against central finite differences element by element, and no tensor left behind,
 * on each path the model can take (cpu; wasm's composite of tf ops; wasm with the native fused kernels; webgpu where
 * it is testable). Values are read with await data(), the only read the webgpu backend has in Node.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { webgpuTestable } from '../helpers/webgpu';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';

export interface OpPath {
  name: string;
  setUp: () => Promise<void>;
}

export const OP_PATHS: OpPath[] = [
  { name: 'cpu', setUp: () => useBackend('cpu') },
  { name: 'wasm, composite of tf ops', setUp: async () => (await useBackend('wasm'), setFusedKernelsEnabled(false)) },
  // with the native addon built, gelu, layerNorm and attention run its kernels here; without it, the composite again
  { name: 'wasm, native kernels when built', setUp: async () => (await useBackend('wasm'), setFusedKernelsEnabled(true)) },
  // the stock tfjs WGSL kernels (the native ones are wasm-only); under CI, where Mesa is installed, always
  ...(webgpuTestable() || process.env['CI'] ? [{ name: 'webgpu', setUp: () => useBackend('webgpu') }] : []),
];

/** The values of the tensor fn makes (inside a tidy), read asynchronously; nothing is left behind. */
export async function read(fn: () => tf.Tensor): Promise<Float32Array> {
  const t = tf.tidy(fn);
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Deterministic values in [-scale, scale). */
export function values(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Largest |a - b| / (atol + rtol |b|); <= 1 is within tolerance. */
export function worstRatio(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    const r = d === 0 ? 0 : d / (atol + rtol * Math.abs(b[i]!));
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}

/**
 * Elements whose gradient disagrees with central finite differences, for L(inputs) = sum(w * op(inputs)) with a
 * fixed random w (so every output element matters, each with its own weight). Empty: the gradient is right.
 */
export async function gradientMismatches(
  op: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  o: { eps?: number; atol?: number; rtol?: number } = {},
): Promise<string[]> {
  const eps = o.eps ?? 1e-2;
  const atol = o.atol ?? 2e-3;
  const rtol = o.rtol ?? 2e-2;
  const out: string[] = [];
  const w = tf.tidy(() => {
    const y = op(...inputs);
    return tf.tensor(values(y.size, 777), y.shape);
  });
  const loss = (...xs: tf.Tensor[]) => tf.sum(tf.mul(w, op(...xs))) as tf.Scalar;
  try {
    const grads = tf.grads(loss)(inputs);
    const analytic = await Promise.all(grads.map((g) => g.data()));
    tf.dispose(grads);
    for (const [i, x] of inputs.entries()) {
      const base = (await x.data()).slice();
      for (let j = 0; j < base.length; j++) {
        const at = async (d: number) => {
          const moved = base.slice();
          moved[j] = base[j]! + d;
          return (await read(() => loss(...inputs.map((t, k) => (k === i ? tf.tensor(moved, t.shape) : t)))))[0]!;
        };
        const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
        const a = analytic[i]![j]!;
        if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) out.push(`input ${i}[${j}]: analytic ${a}, numeric ${numeric}`);
      }
    }
  } finally {
    w.dispose();
  }
  return out;
}

/** Runs fn (forward and backward) and returns how many tensors it left behind. */
export function tensorsLeft(fn: () => void): number {
  const before = tf.memory().numTensors;
  fn();
  return tf.memory().numTensors - before;
}
