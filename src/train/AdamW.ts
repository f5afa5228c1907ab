import * as tf from '@tensorflow/tfjs';
import { variableFrom } from '../util/variables';
import { l2Norm } from '../ops/l2';
import { hasFusedKernel, runKernel } from '../ops/kernels';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export interface ParamUpdate {
  name: string;
  param: tf.Variable;
  grad: tf.Tensor;
  /** False for biases and norm parameters (official get_params_groups: bias or 1-D -> no weight decay). */
  decay: boolean;
}

/** Per-parameter optimiser state, as torch.optim.AdamW keeps it. */
export interface AdamWSlot {
  m: tf.Variable;
  v: tf.Variable;
  /** Steps this parameter has been updated (a parameter without a gradient, e.g. a frozen last layer, keeps its count). */
  t: number;
}

/**
 * torch.optim.AdamW (amsgrad off): p *= 1 - lr*wd (decoupled decay, first), m = b1 m + (1-b1) g,
 * v = b2 v + (1-b2) g^2, p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly slots = new Map<string, AdamWSlot>();

  constructor(o: AdamWOptions = {}) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
  }

  /**
   * Create zeroed state for these parameters now, so memory is allocated once up front (m = v = 0 with t = 0 is
   * exactly torch's state before a parameter's first update, e.g. a last layer still frozen).
   */
  init(params: [string, tf.Variable][]): void {
    for (const [n, p] of params) this.slot(n, p);
  }

  private slot(name: string, p: tf.Variable): AdamWSlot {
    let s = this.slots.get(name);
    if (!s) {
      s = { m: variableFrom(tf.zerosLike(p)), v: variableFrom(tf.zerosLike(p)), t: 0 };
      this.slots.set(name, s);
    }
    return s;
  }

  /** One update; parameters absent from `updates` (no gradient) are left alone, state included. */
  step(updates: ParamUpdate[], lr: number, weightDecay: number): void {
    for (const u of updates) {
      const s = this.slot(u.name, u.param);
      s.t += 1;
      const bc1 = 1 - this.beta1 ** s.t;
      const bc2Sqrt = Math.sqrt(1 - this.beta2 ** s.t);
      const wd = u.decay ? weightDecay : 0;
      if (hasFusedKernel('DinoAdamW')) {
        // the same update in one pass over memory (native kernel) instead of ~10 elementwise ops
        tf.tidy(() => {
          const [p, m, v] = runKernel('DinoAdamW', { param: u.param, grad: u.grad, m: s.m, v: s.v }, {
            lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: wd, step: s.t,
          });
          u.param.assign(p!);
          s.m.assign(m!);
          s.v.assign(v!);
        });
        continue;
      }
      tf.tidy(() => {
        const decayed = u.decay && weightDecay !== 0 ? tf.mul(u.param, 1 - lr * weightDecay) : u.param;
        const m = tf.add(tf.mul(s.m, this.beta1), tf.mul(u.grad, 1 - this.beta1));
        const v = tf.add(tf.mul(s.v, this.beta2), tf.mul(tf.square(u.grad), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), this.eps);
        u.param.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
        s.m.assign(m);
        s.v.assign(v);
      });
    }
  }

  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
  }
}

/**
 * Official clip_gradients: each gradient scaled by clip / (||g|| + 1e-6) when that is below 1. Returns new tensors
 * (the caller disposes the inputs); computed without reading values back, so it costs no GPU/wasm sync.
 */
export function clipGradients(grads: tf.Tensor[], clip: number): tf.Tensor[] {
  return grads.map((g) =>
    tf.tidy(() => {
      const coef = tf.minimum(tf.div(clip, tf.add(l2Norm(g), 1e-6)), 1);
      return tf.mul(g, coef);
    }),
  );
}
