import * as tf from '@tensorflow/tfjs';

/**
 * Initialisers matching the official DINO code. Its trunc_normal_(std=.02) truncates at the absolute values +-2,
 * i.e. at 100 std: effectively a plain normal, which is what we draw (tf.truncatedNormal would cut at 2 std).
 */
export function normal(shape: number[], std: number, seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/** PyTorch's default Linear/Conv init, kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function torchDefaultUniform(shape: number[], fanIn: number, seed: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape, -bound, bound, 'float32', seed);
}

/** Deterministic per-parameter seeds from one model seed. */
export class SeedSequence {
  private i = 0;
  constructor(private readonly base: number) {}
  next(): number {
    this.i += 1;
    return (this.base * 7919 + this.i * 104729) % 2147483647;
  }
}
