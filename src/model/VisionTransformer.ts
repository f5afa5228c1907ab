import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { PatchEmbed } from './PatchEmbed';
import { ConvStem } from './ConvStem';
import { Block } from './Block';
import { LayerNorm } from './LayerNorm';
import { normal, SeedSequence } from './init';
import { bicubicAntialiasMatrix, bicubicMatrix } from './bicubic';
import { sincosPosEmbed } from './sincosPosEmbed';
import type { ViTConfig } from './modelSizes';
import type { DropPathOptions } from './DropPath';
import { gatherRows } from '../ops/gatherRows';

export interface ViTOutput {
  /** Final-LayerNorm CLS feature [B, D] (the DINO feature). */
  cls: tf.Tensor2D;
  /** Last block's attention probabilities [B, H, T, T] when requested (row 0 = the CLS attention map; patches start at prefixTokens). */
  lastAttention?: tf.Tensor4D;
  /** Final-LayerNorm patch tokens at the requested rows (ViTApplyOptions.patchRows), [M, D]. */
  patches?: tf.Tensor2D;
  /** Mean of the final-LayerNorm patch tokens of each image [B, D], when requested (eval_linear.py's avgpool). */
  pooledPatches?: tf.Tensor2D;
}

export interface ViTApplyOptions {
  withAttention?: boolean;
  /** Stochastic depth for a training forward (the student's), rising linearly over the blocks from 0. */
  dropPath?: DropPathOptions;
  /** [B, N] (N = patches per image), 1 where a patch token is replaced by the mask token (masked-patch objective). */
  mask?: tf.Tensor2D;
  /**
   * Patch tokens to return after the final LayerNorm, as rows of the [B, N] patch grid flattened image-major
   * (b * N + n): the masked positions whose distributions the masked-patch objective compares.
   */
  patchRows?: tf.Tensor1D;
  /** Also return the mean of every image's patch tokens after the final LayerNorm (ViTOutput.pooledPatches). */
  poolPatches?: boolean;
}

/** ViT backbone as facebookresearch/dino vision_transformer.py (no classifier head, feature = CLS). */
export class VisionTransformer extends Module {
  /** The tokenizer: the official patch embedding, or a convolutional stem when the config names one. */
  readonly patchEmbed: PatchEmbed | ConvStem;
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable;
  /** Stands in for a masked patch's embedding (iBOT's masked_embed, zeros at init); unused without masks. */
  readonly maskToken: tf.Variable;
  /** DINOv2 register tokens [1, R, D], or null. */
  readonly registerTokens: tf.Variable | null = null;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly gridSize: number;
  /** Bicubic resize matrices per target grid (plain arrays: a cached tensor would outlive every tidy). */
  private readonly interp = new Map<number, Float32Array>();

  constructor(readonly config: ViTConfig, seed = 0) {
    super();
    const { patchSize: p, embedDim: D, imgSize } = config;
    if (imgSize % p !== 0) throw new Error(`imgSize ${imgSize} must be a multiple of patchSize ${p}`);
    this.gridSize = imgSize / p;
    const seeds = new SeedSequence(seed);
    if (config.stem && 2 ** config.stem.length !== p) {
      throw new Error(`a stem of ${config.stem.length} stride-2 convolutions makes ${2 ** config.stem.length} px tokens, not patchSize ${p}`);
    }
    this.patchEmbed = config.stem
      ? this.child('stem', new ConvStem(config.stem, D, seeds.next()))
      : this.child('patch_embed', new PatchEmbed(p, D, seeds.next()));
    this.clsToken = this.param('cls_token', normal([1, 1, D], 0.02, seeds.next()));
    const posSeed = seeds.next(); // drawn either way, so that the other weights do not depend on the choice
    const T = 1 + this.gridSize ** 2;
    this.posEmbed =
      config.posEmbed === 'sincos'
        ? this.param('pos_embed', tf.tensor3d(sincosPosEmbed(this.gridSize, D), [1, T, D]), false)
        : this.param('pos_embed', normal([1, T, D], 0.02, posSeed));
    this.maskToken = this.param('mask_token', tf.zeros([1, 1, D]));
    const R = config.numRegisterTokens ?? 0;
    if (R > 0) this.registerTokens = this.param('register_tokens', normal([1, R, D], 0.02, seeds.next()));
    this.blocks = [];
    for (let i = 0; i < config.depth; i++) {
      this.blocks.push(this.child(`blocks.${i}`, new Block(D, config.numHeads, config.mlpRatio, seeds, config.layerScale)));
    }
    this.norm = this.child('norm', new LayerNorm(D));
  }

  /** Tokens before the patches: the CLS and the registers. */
  get prefixTokens(): number {
    return 1 + (this.config.numRegisterTokens ?? 0);
  }

  /** Position embeddings for a g x g grid: the learned grid, bicubic-resized as the official interpolate_pos_encoding. */
  private posEmbedFor(g: number): tf.Tensor3D {
    const g0 = this.gridSize;
    if (g === g0) return this.posEmbed as tf.Tensor3D;
    const D = this.config.embedDim;
    let w = this.interp.get(g);
    if (!w) {
      const mode = this.config.posEmbedInterpolation ?? 'offset';
      if (mode === 'offset') w = bicubicMatrix(g0, g, (g + 0.1) / g0);
      else if (mode === 'size') w = bicubicMatrix(g0, g, g / g0); // an output size maps coordinates by in / out
      else w = bicubicAntialiasMatrix(g0, g);
      this.interp.set(g, w);
    }
    const m = tf.tensor2d(w, [g, g0]);
    const cls = tf.slice(this.posEmbed, [0, 0, 0], [1, 1, D]);
    const grid = tf.reshape(tf.slice(this.posEmbed, [0, 1, 0], [1, g0 * g0, D]), [g0, g0 * D]);
    const rows = tf.reshape(tf.matMul(m, grid), [g, g0, D]); // resized along rows
    const cols = tf.matMul(m, tf.reshape(tf.transpose(rows, [1, 0, 2]), [g0, g * D])); // then along columns
    const resized = tf.reshape(tf.transpose(tf.reshape(cols, [g, g, D]), [1, 0, 2]), [1, g * g, D]);
    return tf.concat([cls, resized], 1) as tf.Tensor3D;
  }

  /** images [B, S, S, 3] (normalised) -> tokens [B*T, D] with T = 1 + R + (S/p)^2 (CLS, registers, patches). */
  private prepareTokens(images: tf.Tensor4D, mask?: tf.Tensor2D): { x: tf.Tensor2D; tokens: number } {
    const B = images.shape[0];
    const g = images.shape[1] / this.config.patchSize;
    const D = this.config.embedDim;
    let patches: tf.Tensor = tf.reshape(this.patchEmbed.apply(images), [B, g * g, D]);
    if (mask) {
      if (mask.shape[0] !== B || mask.shape[1] !== g * g) throw new Error(`mask [${mask.shape}] does not fit ${B} images of ${g * g} patches`);
      const m = tf.reshape(mask, [B, g * g, 1]);
      patches = tf.add(tf.mul(patches, tf.sub(1, m)), tf.mul(m, this.maskToken)); // before the position embedding, as iBOT
    }
    const withCls = tf.concat([tf.tile(this.clsToken, [B, 1, 1]), patches], 1);
    let x = tf.add(withCls, this.posEmbedFor(g));
    if (this.registerTokens) {
      // registers go in after the position embeddings, between the CLS and the patches (DINOv2)
      const R = this.registerTokens.shape[1]!;
      const cls = tf.slice(x, [0, 0, 0], [B, 1, D]);
      const rest = tf.slice(x, [0, 1, 0], [B, g * g, D]);
      x = tf.concat([cls, tf.tile(this.registerTokens, [B, 1, 1]), rest], 1);
      return { x: tf.reshape(x, [B * (1 + R + g * g), D]) as tf.Tensor2D, tokens: 1 + R + g * g };
    }
    return { x: tf.reshape(x, [B * (1 + g * g), D]) as tf.Tensor2D, tokens: 1 + g * g };
  }

  apply(images: tf.Tensor4D, opts: ViTApplyOptions = {}): ViTOutput {
    const B = images.shape[0];
    const D = this.config.embedDim;
    let { x, tokens } = this.prepareTokens(images, opts.mask);
    let lastAttention: tf.Tensor4D | undefined;
    this.blocks.forEach((blk, i) => {
      const last = i === this.blocks.length - 1;
      const dp = opts.dropPath;
      const n = this.blocks.length;
      const p = dp && n > 1 ? (dp.rate * i) / (n - 1) : 0; // official: torch.linspace(0, drop_path_rate, depth)
      const r = blk.apply(x, B, tokens, !!opts.withAttention && last, dp && { p, rng: dp.rng });
      x = r.x;
      if (r.probs) lastAttention = r.probs;
    });
    // LayerNorm is per token, so normalising only the CLS rows gives the official norm(x)[:, 0]
    const x3 = tf.reshape(x, [B, tokens, D]);
    const clsRows = tf.reshape(tf.slice(x3, [0, 0, 0], [B, 1, D]), [B, D]) as tf.Tensor2D;
    const n = tokens - this.prefixTokens;
    // the patch tokens as rows [B*N, D], image-major
    const grid = () => tf.reshape(tf.slice(x3, [0, this.prefixTokens, 0], [B, n, D]), [B * n, D]) as tf.Tensor2D;
    const patches = opts.patchRows ? this.norm.apply(gatherRows(grid(), opts.patchRows)) : undefined;
    const pooledPatches = opts.poolPatches ? (tf.mean(tf.reshape(this.norm.apply(grid()), [B, n, D]), 1) as tf.Tensor2D) : undefined;
    return { cls: this.norm.apply(clsRows), lastAttention, patches, pooledPatches };
  }
}
