import * as tf from '@tensorflow/tfjs';
import { variableFrom } from '../util/variables';

/** The ways of keeping the teacher's targets from collapsing (see DINOLossOptions.centering). */
export const CENTERINGS = ['center', 'sinkhorn'] as const;
export type Centering = (typeof CENTERINGS)[number];

export interface DINOLossOptions {
  outDim: number;
  /** Total crops per image (2 global + local). */
  nCrops: number;
  /** Crops seen by the teacher (the globals, first in the crop order). */
  nGlobal?: number;
  studentTemp?: number;
  centerMomentum?: number;
  /**
   * How the teacher's output is kept from collapsing: 'center' (official DINO: subtract an EMA of the batch mean,
   * then softmax) or 'sinkhorn' (DINOv2/SwAV: Sinkhorn-Knopp iterations make the batch's targets use the
   * prototypes evenly; no centre needed).
   */
  centering?: Centering;
  sinkhornIterations?: number;
}

/**
 * Sinkhorn-Knopp targets (as DINOv2's sinkhorn_knopp_teacher): Q = exp(logits / T) as [K, B], alternately
 * normalised so every prototype gets 1/K of the batch's mass and every sample 1/B, then each row (sample) scaled
 * to sum to 1. Done in log space with logSumExp: exp(l/T) overflows float32 for T = 0.04, and with one global max
 * shift a prototype far below the batch's best (a cosine gap > 0.87 at T = 0.01) underflows to an all-zero
 * column and 0/0.
 */
export function sinkhornKnopp(logits: tf.Tensor2D, temp: number, iterations: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, K] = logits.shape;
    const z = tf.div(logits, temp);
    let lq = tf.sub(z, tf.logSumExp(z)); // log Q, [B, K], total mass 1
    for (let i = 0; i < iterations; i++) {
      lq = tf.sub(lq, tf.add(tf.logSumExp(lq, 0, true), Math.log(K))); // each prototype (column) gets 1/K
      lq = tf.sub(lq, tf.add(tf.logSumExp(lq, 1, true), Math.log(B))); // each sample (row) gets 1/B
    }
    return tf.exp(tf.add(lq, Math.log(B))) as tf.Tensor2D;
  });
}

/**
 * The official DINOLoss: cross-entropy between the centred, sharpened teacher softmax on the global crops and the
 * student log-softmax (temperature 0.1) on every crop, averaged over all (teacher view, student view) pairs with
 * different views: nGlobal * nCrops - nGlobal terms (2 * (ncrops - 1) for 2 globals). The centre is an EMA of the
 * batch mean of the teacher logits, updated after the loss.
 */
export class DINOLoss {
  readonly center: tf.Variable;
  readonly nGlobal: number;
  readonly studentTemp: number;
  readonly centerMomentum: number;

  constructor(readonly o: DINOLossOptions) {
    this.nGlobal = o.nGlobal ?? 2;
    this.studentTemp = o.studentTemp ?? 0.1;
    this.centerMomentum = o.centerMomentum ?? 0.9;
    if (o.nCrops < this.nGlobal) throw new Error(`DINOLoss: nCrops ${o.nCrops} < nGlobal ${this.nGlobal}`);
    this.center = variableFrom(tf.zeros([1, o.outDim]));
  }

  get numTerms(): number {
    return this.nGlobal * this.o.nCrops - this.nGlobal;
  }

  /** softmax((teacher - center) / temp), the targets [nGlobal*B, K]. */
  teacherTargets(teacherLogits: tf.Tensor2D, teacherTemp: number): tf.Tensor2D {
    if (this.o.centering === 'sinkhorn') return sinkhornKnopp(teacherLogits, teacherTemp, this.o.sinkhornIterations ?? 3);
    return tf.tidy(() => tf.softmax(tf.div(tf.sub(teacherLogits, this.center), teacherTemp)) as tf.Tensor2D);
  }

  /**
   * Loss from student logits [nCrops*B, K] (crop-major) and teacher targets [nGlobal*B, K].
   * Rather than looping over pairs: with L_v = log_softmax(s_v / T_s) and S = sum_v L_v, the sum over v != iq of
   * sum(q_iq * L_v) is sum(q_iq * (S - L_iq)).
   */
  lossFromTargets(studentLogits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const K = this.o.outDim;
      const n = this.o.nCrops;
      const B = studentLogits.shape[0] / n;
      if (!Number.isInteger(B) || targets.shape[0] !== this.nGlobal * B) {
        throw new Error(`DINOLoss: got ${studentLogits.shape[0]} student rows for ${n} crops and ${targets.shape[0]} teacher rows`);
      }
      const ls = tf.reshape(tf.logSoftmax(tf.div(studentLogits, this.studentTemp)), [n, B, K]);
      const sumAll = tf.sum(ls, 0); // [B, K]
      const lsGlobal = tf.slice(ls, [0, 0, 0], [this.nGlobal, B, K]);
      const q = tf.reshape(targets, [this.nGlobal, B, K]);
      const total = tf.sum(tf.mul(q, tf.sub(sumAll, lsGlobal)));
      return tf.div(tf.neg(total), B * this.numTerms) as tf.Scalar;
    });
  }

  /** Convenience: the full loss from logits (targets computed with the current centre). */
  loss(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, teacherTemp: number): tf.Scalar {
    return tf.tidy(() => this.lossFromTargets(studentLogits, this.teacherTargets(teacherLogits, teacherTemp)));
  }

  /** center = m * center + (1 - m) * mean over the batch of the teacher logits. */
  updateCenter(teacherLogits: tf.Tensor2D): void {
    tf.tidy(() => {
      const batchCenter = tf.mean(teacherLogits, 0, true);
      this.center.assign(tf.add(tf.mul(this.center, this.centerMomentum), tf.mul(batchCenter, 1 - this.centerMomentum)));
    });
  }

  dispose(): void {
    this.center.dispose();
  }
}
