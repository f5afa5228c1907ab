import * as tf from '@tensorflow/tfjs';
import { variableFrom } from '../util/variables';
import { sinkhornKnopp, type Centering } from './DINOLoss';

export interface IBOTPatchLossOptions {
  outDim: number;
  studentTemp?: number;
  centerMomentum?: number;
  /** As DINOLoss: 'center' (iBOT: its own centre of the patch logits) or 'sinkhorn' (DINOv2). */
  centering?: Centering;
  sinkhornIterations?: number;
}

/**
 * iBOT's masked-patch loss (the "MIM" term of iBOTLoss, weighted as DINOv2's forward_masked): the student sees a
 * global crop with some patch tokens replaced by the mask token, and at each masked position predicts the teacher's
 * distribution over the prototypes for the unmasked crop's token there. Per image, the cross-entropy is averaged
 * over its masked tokens; the loss is the sum over images divided by the number of global crop images (unmasked
 * images count as zeros, as DINOv2's division by the batch of all global crops).
 */
export class IBOTPatchLoss {
  /** The patch logits' own centre (iBOT's center2), used only with centering 'center'. */
  readonly center: tf.Variable;
  readonly studentTemp: number;
  readonly centerMomentum: number;

  constructor(readonly o: IBOTPatchLossOptions) {
    this.studentTemp = o.studentTemp ?? 0.1;
    this.centerMomentum = o.centerMomentum ?? 0.9;
    this.center = variableFrom(tf.zeros([1, o.outDim]));
  }

  /** Teacher targets [M, K] for the masked positions' logits [M, K]. */
  teacherTargets(teacherPatchLogits: tf.Tensor2D, teacherTemp: number): tf.Tensor2D {
    if (this.o.centering === 'sinkhorn') return sinkhornKnopp(teacherPatchLogits, teacherTemp, this.o.sinkhornIterations ?? 3);
    return tf.tidy(() => tf.softmax(tf.div(tf.sub(teacherPatchLogits, this.center), teacherTemp)) as tf.Tensor2D);
  }

  /**
   * Weight of each masked token's cross-entropy: 1 / (its image's masked count x the number of images), so that
   * the loss is the mean over images of the mean over their masked tokens.
   */
  static tokenWeights(counts: Int32Array): Float32Array {
    const w: number[] = [];
    counts.forEach((c) => {
      for (let i = 0; i < c; i++) w.push(1 / (c * counts.length));
    });
    return Float32Array.from(w);
  }

  /** Loss from the student's logits at the masked positions [M, K], the targets [M, K] and tokenWeights [M]. */
  lossFromTargets(studentPatchLogits: tf.Tensor2D, targets: tf.Tensor2D, weights: tf.Tensor1D): tf.Scalar {
    return tf.tidy(() => {
      if (studentPatchLogits.shape[0] !== targets.shape[0] || weights.shape[0] !== targets.shape[0]) {
        throw new Error(`IBOTPatchLoss: ${studentPatchLogits.shape[0]} student rows, ${targets.shape[0]} targets, ${weights.shape[0]} weights`);
      }
      const ls = tf.logSoftmax(tf.div(studentPatchLogits, this.studentTemp));
      const perToken = tf.sum(tf.mul(targets, ls), 1);
      return tf.neg(tf.sum(tf.mul(perToken, weights))) as tf.Scalar;
    });
  }

  /** center = m * center + (1 - m) * mean of the teacher's logits at the masked positions. */
  updateCenter(teacherPatchLogits: tf.Tensor2D): void {
    if (this.o.centering === 'sinkhorn' || teacherPatchLogits.shape[0] === 0) return;
    tf.tidy(() => {
      const batchCenter = tf.mean(teacherPatchLogits, 0, true);
      this.center.assign(tf.add(tf.mul(this.center, this.centerMomentum), tf.mul(batchCenter, 1 - this.centerMomentum)));
    });
  }

  dispose(): void {
    this.center.dispose();
  }
}
