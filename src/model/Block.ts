import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { Linear } from './Linear';
import { LayerNorm } from './LayerNorm';
import { attention, attentionForward } from '../ops/attention';
import { gelu } from '../ops/gelu';
import { SeedSequence } from './init';
import { DropPath } from './DropPath';
import type { Random } from '../util/Random';

/**
 * Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)), MLP = fc2(GELU(fc1)); with LayerScale (DINOv2)
 * each branch is multiplied by its learned per-channel vector first.
 * Activations are 2-D [B*T, D] throughout so every Linear is one plain matmul.
 */
export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly norm2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  /** LayerScale vectors (DINOv2's ls1.gamma, ls2.gamma), when the ViT has them. */
  readonly ls1: tf.Variable | null = null;
  readonly ls2: tf.Variable | null = null;
  private readonly scale: number;

  constructor(readonly dim: number, readonly numHeads: number, mlpRatio: number, seeds: SeedSequence, layerScale?: number) {
    super();
    if (dim % numHeads !== 0) throw new Error(`embedDim ${dim} must be divisible by numHeads ${numHeads}`);
    this.scale = (dim / numHeads) ** -0.5;
    const hidden = Math.round(dim * mlpRatio);
    this.norm1 = this.child('norm1', new LayerNorm(dim));
    // official names: attn.qkv, attn.proj, mlp.fc1, mlp.fc2
    this.qkv = this.child('attn.qkv', new Linear(dim, 3 * dim, seeds.next()));
    this.proj = this.child('attn.proj', new Linear(dim, dim, seeds.next()));
    this.norm2 = this.child('norm2', new LayerNorm(dim));
    this.fc1 = this.child('mlp.fc1', new Linear(dim, hidden, seeds.next()));
    this.fc2 = this.child('mlp.fc2', new Linear(hidden, dim, seeds.next()));
    if (layerScale !== undefined) {
      this.ls1 = this.param('ls1.gamma', tf.fill([dim], layerScale));
      this.ls2 = this.param('ls2.gamma', tf.fill([dim], layerScale));
    }
  }

  /**
   * x [B*T, D] -> [B*T, D]; with `withProbs`, also the attention probabilities [B, H, T, T] (no gradient). With
   * `dropPath` (the student in training), each residual branch is dropped per image with that probability.
   */
  apply(
    x: tf.Tensor2D,
    batch: number,
    tokens: number,
    withProbs = false,
    dropPath?: { p: number; rng: Random },
  ): { x: tf.Tensor2D; probs?: tf.Tensor4D } {
    const drop = dropPath && new DropPath(dropPath.p);
    const branch = (b: tf.Tensor2D, ls: tf.Variable | null) => {
      const scaled = ls ? (tf.mul(b, ls) as tf.Tensor2D) : b;
      return drop ? drop.apply(scaled, batch, tokens, dropPath.rng) : scaled;
    };
    const shape = { batch, tokens, heads: this.numHeads, scale: this.scale };
    const qkv = this.qkv.apply(this.norm1.apply(x));
    let a: tf.Tensor2D;
    let probs: tf.Tensor4D | undefined;
    if (withProbs) {
      ({ out: a, probs } = attentionForward(qkv, shape));
    } else {
      a = attention(qkv, shape);
    }
    const x1 = tf.add(x, branch(this.proj.apply(a), this.ls1)) as tf.Tensor2D;
    const h = gelu(this.fc1.apply(this.norm2.apply(x1)));
    return { x: tf.add(x1, branch(this.fc2.apply(h), this.ls2)) as tf.Tensor2D, probs };
  }
}
