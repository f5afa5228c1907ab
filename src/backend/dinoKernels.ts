/**
 * Custom fused kernels of the DINO ViT (names are the contract with src/model, which looks them up with
 * tf.getKernel(name, tf.getBackend()) and otherwise composes tf ops). Registered for 'wasm' only when the addon
 * loaded; every kernel reads its inputs from and writes its outputs to the wasm heap.
 */
import type * as tf from '@tensorflow/tfjs';

import type { NativeAddon } from './nativeAddon';
import { heapF32, offsetOf, sizeOf, WasmBackendLike } from './wasmHeap';

export const DINO_KERNEL_NAMES = [
  'DinoGelu', 'DinoGeluGrad', 'DinoLayerNorm', 'DinoLayerNormGrad', 'DinoAttention', 'DinoAttentionGrad', 'DinoAdamW',
] as const;
export type DinoKernelName = (typeof DINO_KERNEL_NAMES)[number];

type Inputs = Record<string, tf.TensorInfo>;

/**
 * Checks the inputs and makes them resident in the wasm heap now: looking a tensor up can move it from another
 * backend (a malloc that may grow the memory), which must happen before the heap view is taken.
 */
function need(args: { inputs: unknown; backend: unknown }, kernel: string, ...names: string[]): tf.TensorInfo[] {
  const inputs = args.inputs as Inputs;
  return names.map((n) => {
    const t = inputs[n];
    if (t == null) throw new Error(`${kernel}: missing input '${n}'`);
    if (t.dtype !== 'float32') throw new Error(`${kernel}: input '${n}' must be float32, got ${t.dtype}`);
    offsetOf(args.backend as WasmBackendLike, t);
    return t;
  });
}

function check(cond: boolean, msg: () => string): void {
  if (!cond) throw new Error(msg());
}

interface AttnDims { B: number; T: number; H: number; D: number; hd: number; scale: number }

function attnDims(kernel: string, qkv: tf.TensorInfo, attrs: tf.NamedAttrMap): AttnDims {
  const B = Number(attrs.batch), T = Number(attrs.tokens), H = Number(attrs.heads), scale = Number(attrs.scale);
  check([B, T, H].every((v) => Number.isInteger(v) && v > 0) && Number.isFinite(scale),
    () => `${kernel}: attrs batch, tokens, heads (positive integers) and scale are required`);
  const threeD = qkv.shape[qkv.shape.length - 1];
  check(threeD % (3 * H) === 0, () => `${kernel}: qkv last dim ${threeD} is not 3 * heads * headDim`);
  check(sizeOf(qkv.shape) === B * T * threeD, () => `${kernel}: qkv ${qkv.shape} does not hold batch*tokens rows`);
  const D = threeD / 3;
  return { B, T, H, D, hd: D / H, scale };
}

export function makeDinoKernels(addon: NativeAddon): Record<DinoKernelName, tf.KernelFunc> {
  const be = (args: { backend: unknown }) => args.backend as WasmBackendLike;
  return {
    DinoGelu: (args) => {
      const [x] = need(args, 'DinoGelu', 'x');
      const b = be(args);
      const y = b.makeOutput(x.shape, 'float32');
      const n = sizeOf(x.shape);
      if (n > 0) addon.gelu(heapF32(b), offsetOf(b, x), offsetOf(b, y), n);
      return y;
    },

    DinoGeluGrad: (args) => {
      const [dy, x] = need(args, 'DinoGeluGrad', 'dy', 'x');
      check(sizeOf(dy.shape) === sizeOf(x.shape), () => `DinoGeluGrad: dy ${dy.shape} vs x ${x.shape}`);
      const b = be(args);
      const dx = b.makeOutput(x.shape, 'float32');
      const n = sizeOf(x.shape);
      if (n > 0) addon.geluGrad(heapF32(b), offsetOf(b, dy), offsetOf(b, x), offsetOf(b, dx), n);
      return dx;
    },

    DinoLayerNorm: (args) => {
      const [x, gamma, beta] = need(args, 'DinoLayerNorm', 'x', 'gamma', 'beta');
      const D = x.shape[x.shape.length - 1];
      check(sizeOf(gamma.shape) === D && sizeOf(beta.shape) === D,
        () => `DinoLayerNorm: gamma/beta must have ${D} elements`);
      const eps = Number((args.attrs as tf.NamedAttrMap).epsilon ?? 1e-6);
      const N = D > 0 ? sizeOf(x.shape) / D : 0;
      const b = be(args);
      const rowShape = x.shape.slice(0, -1);
      const y = b.makeOutput(x.shape, 'float32');
      const mean = b.makeOutput(rowShape, 'float32');
      const rstd = b.makeOutput(rowShape, 'float32');
      if (N > 0 && D > 0) {
        addon.layerNorm(heapF32(b), offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, beta),
          offsetOf(b, y), offsetOf(b, mean), offsetOf(b, rstd), N, D, eps);
      }
      return [y, mean, rstd];
    },

    DinoLayerNormGrad: (args) => {
      const [dy, x, gamma, mean, rstd] =
        need(args, 'DinoLayerNormGrad', 'dy', 'x', 'gamma', 'mean', 'rstd');
      const D = x.shape[x.shape.length - 1];
      const N = D > 0 ? sizeOf(x.shape) / D : 0;
      check(sizeOf(dy.shape) === N * D && sizeOf(gamma.shape) === D && sizeOf(mean.shape) === N &&
        sizeOf(rstd.shape) === N, () => 'DinoLayerNormGrad: inconsistent shapes');
      const b = be(args);
      const dx = b.makeOutput(x.shape, 'float32');
      const dgamma = b.makeOutput(gamma.shape, 'float32');
      const dbeta = b.makeOutput(gamma.shape, 'float32');
      const heapNow = heapF32(b);
      if (N > 0 && D > 0) {
        addon.layerNormGrad(heapNow, offsetOf(b, dy), offsetOf(b, x), offsetOf(b, gamma), offsetOf(b, mean),
          offsetOf(b, rstd), offsetOf(b, dx), offsetOf(b, dgamma), offsetOf(b, dbeta), N, D);
      } else if (D > 0) {
        heapNow.fill(0, offsetOf(b, dgamma) / 4, offsetOf(b, dgamma) / 4 + D);
        heapNow.fill(0, offsetOf(b, dbeta) / 4, offsetOf(b, dbeta) / 4 + D);
      }
      return [dx, dgamma, dbeta];
    },

    DinoAttention: (args) => {
      const [qkv] = need(args, 'DinoAttention', 'qkv');
      const { B, T, H, D, hd, scale } = attnDims('DinoAttention', qkv, args.attrs as tf.NamedAttrMap);
      const b = be(args);
      const out = b.makeOutput([...qkv.shape.slice(0, -1), D], 'float32');
      const probs = b.makeOutput([B, H, T, T], 'float32');
      addon.attention(heapF32(b), offsetOf(b, qkv), offsetOf(b, out), offsetOf(b, probs), B, T, H, hd, scale);
      return [out, probs];
    },

    DinoAttentionGrad: (args) => {
      const [dout, qkv, probs] = need(args, 'DinoAttentionGrad', 'dout', 'qkv', 'probs');
      const { B, T, H, D, hd, scale } = attnDims('DinoAttentionGrad', qkv, args.attrs as tf.NamedAttrMap);
      check(sizeOf(dout.shape) === B * T * D && sizeOf(probs.shape) === B * H * T * T,
        () => `DinoAttentionGrad: dout ${dout.shape} / probs ${probs.shape} do not match qkv ${qkv.shape}`);
      const b = be(args);
      const dqkv = b.makeOutput(qkv.shape, 'float32');
      addon.attentionGrad(heapF32(b), offsetOf(b, dout), offsetOf(b, qkv), offsetOf(b, probs), offsetOf(b, dqkv),
        B, T, H, hd, scale);
      return dqkv;
    },

    /**
     * One torch.optim.AdamW step in a single pass: inputs {param, grad, m, v} and optionally {teacher}; attrs {lr,
     * beta1, beta2, eps, weightDecay (0: no decay), step (t >= 1, for the bias corrections), clip (0: none; else the
     * gradient is scaled by min(clip / (||grad|| + 1e-6), 1) first), momentum (with teacher: the EMA)}; outputs
     * [param', m', v'] and, with teacher, teacher' = momentum * teacher + (1 - momentum) * param', to assign.
     */
    DinoAdamW: (args) => {
      const [param, grad, m, v] = need(args, 'DinoAdamW', 'param', 'grad', 'm', 'v');
      const withTeacher = (args.inputs as Inputs)['teacher'] != null;
      const teacher = withTeacher ? need(args, 'DinoAdamW', 'teacher')[0]! : null;
      const n = sizeOf(param.shape);
      check([grad, m, v, ...(teacher ? [teacher] : [])].every((t) => sizeOf(t.shape) === n),
        () => 'DinoAdamW: param, grad, m, v (and teacher) sizes differ');
      const a = args.attrs as tf.NamedAttrMap;
      const num = (k: string, dflt?: number) => {
        const x = Number(a[k] ?? dflt);
        check(Number.isFinite(x), () => `DinoAdamW: attr ${k} is required`);
        return x;
      };
      const step = num('step');
      check(step >= 1, () => 'DinoAdamW: step must be >= 1');
      const momentum = teacher ? num('momentum') : 0;
      const b = be(args);
      const p2 = b.makeOutput(param.shape, 'float32');
      const m2 = b.makeOutput(param.shape, 'float32');
      const v2 = b.makeOutput(param.shape, 'float32');
      const t2 = teacher ? b.makeOutput(param.shape, 'float32') : null;
      if (n > 0) {
        addon.adamw(heapF32(b), offsetOf(b, param), offsetOf(b, grad), offsetOf(b, m), offsetOf(b, v),
          offsetOf(b, p2), offsetOf(b, m2), offsetOf(b, v2), n,
          num('lr'), num('beta1', 0.9), num('beta2', 0.999), num('eps', 1e-8), num('weightDecay', 0), step,
          num('clip', 0), teacher ? offsetOf(b, teacher) : -1, t2 ? offsetOf(b, t2) : -1, momentum);
      }
      return t2 ? [p2, m2, v2, t2] : [p2, m2, v2];
    },
  };
}
