import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { linear, type LinearOptions } from '../ops/linear';
import { normal } from './init';

/** nn.Linear with weight stored [in, out] (so y = x W + b is an untransposed matmul); DINO init trunc_normal .02. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inDim: number, readonly outDim: number, seed: number, opts: { bias?: boolean; weight?: tf.Tensor } = {}) {
    super();
    this.weight = this.param('weight', opts.weight ?? normal([inDim, outDim], 0.02, seed));
    this.bias = opts.bias === false ? null : this.param('bias', tf.zeros([outDim]));
  }

  apply(x: tf.Tensor2D, opts: LinearOptions = {}): tf.Tensor2D {
    return linear(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D | null, opts);
  }
}
