import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { Linear } from './Linear';
import { LayerNorm } from './LayerNorm';
import { torchDefaultUniform } from './init';
import { conv2d, type ConvGeometry } from '../ops/conv2d';
import { gelu } from '../ops/gelu';

const STRIDE2: ConvGeometry = { kernel: 3, stride: 2, pad: 1 };

/** One 3x3 stride-2 convolution (no bias: a LayerNorm follows), its LayerNorm over channels, then GELU. */
class StemConv extends Module {
  readonly weight: tf.Variable;
  readonly norm: LayerNorm;

  constructor(readonly inChannels: number, readonly outChannels: number, seed: number) {
    super();
    const fanIn = 9 * inChannels;
    this.weight = this.param('weight', torchDefaultUniform([fanIn, outChannels], fanIn, seed));
    this.norm = this.child('norm', new LayerNorm(outChannels));
  }

  /** x [B, H, W, Cin] -> [B * H/2 * W/2, Cout]. */
  apply(x: tf.Tensor4D, inputGrad: boolean): tf.Tensor2D {
    return gelu(this.norm.apply(conv2d(x, this.weight as tf.Tensor2D, STRIDE2, { inputGrad })));
  }
}

/**
 * A convolutional stem in place of the patchify matmul (Xiao et al. 2021, "Early convolutions help transformers see
 * better"): stacked 3x3 stride-2 convolutions, each followed by a normalisation and a non-linearity, then a 1x1
 * convolution (a Linear per position) to the embedding width. n convolutions give tokens on a grid of stride 2^n,
 * the patch size they replace. Neighbouring tokens see overlapping pixels, so the first block starts from local
 * features rather than from independent patches. LayerNorm over channels where the paper has BatchNorm: the student's
 * batches are small and the EMA teacher would need its own running statistics.
 */
export class ConvStem extends Module {
  readonly convs: StemConv[] = [];
  readonly proj: Linear;
  /** The side of the square of pixels each token stands for (2^convs). */
  readonly patchSize: number;

  constructor(readonly channels: readonly number[], readonly embedDim: number, seed: number) {
    super();
    if (channels.length === 0) throw new Error('ConvStem: at least one convolution is needed');
    let c = 3;
    channels.forEach((out, i) => {
      this.convs.push(this.child(`convs.${i}`, new StemConv(c, out, seed + 2 * i)));
      c = out;
    });
    this.proj = this.child('proj', new Linear(c, embedDim, seed + 2 * channels.length));
    this.patchSize = 2 ** channels.length;
  }

  /** images [B, S, S, 3] -> token embeddings [B * g * g, D] in row-major order, g = S / 2^n. */
  apply(images: tf.Tensor4D): tf.Tensor2D {
    const [B, H, W] = images.shape;
    const p = this.patchSize;
    if (H % p !== 0 || W % p !== 0) throw new Error(`image ${H}x${W} is not a multiple of the stem's stride ${p}`);
    let x: tf.Tensor4D = images;
    let h = H;
    let w = W;
    let y: tf.Tensor2D | undefined;
    this.convs.forEach((conv, i) => {
      y = conv.apply(x, i > 0); // pixels need no gradient
      h /= 2;
      w /= 2;
      x = tf.reshape(y, [B, h, w, conv.outChannels]);
    });
    return this.proj.apply(y!);
  }
}
