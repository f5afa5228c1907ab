import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { layerNorm } from '../ops/layerNorm';

/** nn.LayerNorm(dim, eps=1e-6) over the last axis, weight 1 and bias 0 at init as in the official ViT. */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.param('weight', tf.ones([dim]));
    this.bias = this.param('bias', tf.zeros([dim]));
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return layerNorm(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.eps);
  }
}
