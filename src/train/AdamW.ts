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

export interface StepOptions {
  /** Per-parameter gradient clipping threshold (official clip_gradients); 0 or absent: none. */
  clip?: number;
  /** The teacher's parameters by name and the EMA momentum, applied right after each parameter's update. */
  ema?: { teacher: Map<string, tf.Variable>; momentum: number };
}

/** teacher = m * teacher + (1 - m) * student (official EMA, no gradient). */
export function emaUpdate(teacher: tf.Tensor, student: tf.Tensor, m: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(teacher, m), tf.mul(student, 1 - m)));
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

  /**
   * One update; parameters absent from `updates` (no gradient) are left alone, state included. With `clip`, each
   * gradient is first clipped as the official clip_gradients (per parameter); with `ema`, the teacher's parameter
   * of the same name then moves to momentum * teacher + (1 - momentum) * param. With the native kernel all of it is
   * one pass over each parameter. Returns the names whose teacher parameter was updated.
   */
  step(updates: ParamUpdate[], lr: number, weightDecay: number, opts: StepOptions = {}): Set<string> {
    const clip = opts.clip ?? 0;
    const emaDone = new Set<string>();
    for (const u of updates) {
      const s = this.slot(u.name, u.param);
      s.t += 1;
      const bc1 = 1 - this.beta1 ** s.t;
      const bc2Sqrt = Math.sqrt(1 - this.beta2 ** s.t);
      const wd = u.decay ? weightDecay : 0;
      const teacher = opts.ema?.teacher.get(u.name);
      const momentum = opts.ema?.momentum ?? 0;
      if (teacher) emaDone.add(u.name);
      if (hasFusedKernel('DinoAdamW')) {
        tf.tidy(() => {
          const [p, m, v, t] = runKernel('DinoAdamW', { param: u.param, grad: u.grad, m: s.m, v: s.v, ...(teacher ? { teacher } : {}) }, {
            lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: wd, step: s.t, clip, momentum,
          });
          u.param.assign(p!);
          s.m.assign(m!);
          s.v.assign(v!);
          if (teacher) teacher.assign(t!);
        });
        continue;
      }
      tf.tidy(() => {
        const g = clip > 0 ? clipGradients([u.grad], clip)[0]! : u.grad;
        const decayed = u.decay && weightDecay !== 0 ? tf.mul(u.param, 1 - lr * weightDecay) : u.param;
        const m = tf.add(tf.mul(s.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(s.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), this.eps);
        u.param.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
        s.m.assign(m);
        s.v.assign(v);
        if (teacher) teacher.assign(emaUpdate(teacher, u.param, momentum));
      });
    }
    return emaDone;
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
