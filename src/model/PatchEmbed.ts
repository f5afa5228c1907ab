import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { Linear } from './Linear';
import { torchDefaultUniform } from './init';

/**
 * Conv2d(3, D, kernel=p, stride=p) written as patchify + one matmul (identical maths; the wasm backend has no
 * Conv2DBackpropFilter). The weight is [p*p*3, D] in (row, col, channel) order. Initialised like PyTorch's
 * Conv2d default, since the official DINO init only touches Linear and LayerNorm.
 */
export class PatchEmbed extends Module {
  readonly proj: Linear;

  constructor(readonly patchSize: number, readonly embedDim: number, seed: number) {
    super();
    const fanIn = patchSize * patchSize * 3;
    this.proj = this.child(
      'proj',
      new Linear(fanIn, embedDim, seed, { weight: torchDefaultUniform([fanIn, embedDim], fanIn, seed) }),
    );
    // bias also follows the Conv2d default (uniform), not zeros
    const bias = torchDefaultUniform([embedDim], fanIn, seed + 1);
    this.proj.bias!.assign(bias);
    bias.dispose();
  }

  /** images [B, S, S, 3] -> patch embeddings [B * g * g, D] in row-major patch order, g = S / p. */
  apply(images: tf.Tensor4D): tf.Tensor2D {
    return this.proj.apply(patchify(images, this.patchSize), { inputGrad: false });
  }
}

/** images [B, H, W, C] -> patches [B * gh * gw, p * p * C], row-major patch order, each patch in (row, col, channel) order. */
export function patchify(images: tf.Tensor4D, p: number): tf.Tensor2D {
  const [B, H, W, C] = images.shape;
  if (H % p !== 0 || W % p !== 0) throw new Error(`image ${H}x${W} is not a multiple of the patch size ${p}`);
  const gh = H / p;
  const gw = W / p;
  // [B, gh, p, gw, p*C] -> [B, gh, gw, p, p*C]: a 4-D transpose once batch and patch-row are merged
  return tf.reshape(tf.transpose(tf.reshape(images, [B * gh, p, gw, p * C]), [0, 2, 1, 3]), [B * gh * gw, p * p * C]);
}
