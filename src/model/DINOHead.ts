import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { Linear } from './Linear';
import { gelu } from '../ops/gelu';
import { linear } from '../ops/linear';
import { l2Norm, l2Normalize } from '../ops/l2';
import { SeedSequence, torchDefaultUniform } from './init';
import type { HeadConfig } from './modelSizes';


/**
 * DINOHead of the official code: MLP (GELU) in -> hidden -> ... -> bottleneck, L2-normalise, then a
 * weight-normalised Linear(bottleneck, outDim, bias=False): W = g * v / ||v|| per output unit. With
 * normLastLayer, g is fixed to 1 (not a parameter we train).
 */
export class DINOHead extends Module {
  readonly mlp: Linear[] = [];
  /** weight_norm's direction v, stored [bottleneck, outDim] (columns = output units). */
  readonly lastLayerV: tf.Variable;
  /** weight_norm's magnitude g [outDim]; only a trainable parameter when normLastLayer is false. */
  readonly lastLayerG: tf.Variable;

  constructor(readonly inDim: number, readonly config: HeadConfig, seed = 1) {
    super();
    const { hiddenDim, bottleneckDim, outDim, nlayers } = config;
    const seeds = new SeedSequence(seed);
    const n = Math.max(nlayers, 1);
    const dims = n === 1 ? [inDim, bottleneckDim] : [inDim, ...Array(n - 1).fill(hiddenDim), bottleneckDim];
    for (let i = 0; i < n; i++) {
      // official: mlp is an nn.Sequential with GELUs between Linears: Linear indices 0, 2, 4, ...
      this.mlp.push(this.child(`mlp.${2 * i}`, new Linear(dims[i]!, dims[i + 1]!, seeds.next())));
    }
    // the last layer is created after the trunc-normal init pass, so it keeps nn.Linear's default init
    this.lastLayerV = this.param('last_layer.weight_v', torchDefaultUniform([bottleneckDim, outDim], bottleneckDim, seeds.next()));
    this.lastLayerG = this.param('last_layer.weight_g', tf.ones([outDim]), !config.normLastLayer);
  }

  /** Names (as returned by namedParameters) of the last layer, frozen during the first steps. */
  static readonly lastLayerNames = ['last_layer.weight_v', 'last_layer.weight_g'];

  /** The effective last-layer weight [bottleneck, outDim]. */
  lastLayerWeight(): tf.Tensor2D {
    return tf.tidy(() => {
      const vnorm = l2Norm(this.lastLayerV, 0, true); // [1, outDim]
      const scale = this.config.normLastLayer ? tf.reciprocal(vnorm) : tf.div(this.lastLayerG, vnorm);
      return tf.mul(this.lastLayerV, scale) as tf.Tensor2D;
    });
  }

  /** features [N, inDim] -> logits [N, outDim] (before any temperature). */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    let h = x;
    this.mlp.forEach((lin, i) => {
      h = lin.apply(h);
      if (i < this.mlp.length - 1) h = gelu(h);
    });
    return linear(l2Normalize(h), this.lastLayerWeight(), null);
  }
}
