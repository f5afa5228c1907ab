import * as tf from '@tensorflow/tfjs';
import { Module } from './Module';
import { VisionTransformer } from './VisionTransformer';
import { DINOHead } from './DINOHead';
import type { ModelConfig } from './modelSizes';
import type { DropPathOptions } from './DropPath';

export interface MultiCropOutput {
  /** Backbone CLS features [nCrops*B, D], crop-major (all images of crop 0, then crop 1, ...). */
  features: tf.Tensor2D;
  /** Head logits [nCrops*B, outDim], same order. */
  logits: tf.Tensor2D;
  /** Head logits of the patch tokens at MaskedPatches.rows of the first crop group, [M, outDim] (shared head). */
  patchLogits?: tf.Tensor2D;
}

/** The masked-patch objective's view of the first crop group (the global crops, concatenated crop-major). */
export interface MaskedPatches {
  /** [images, N], 1 = replaced by the mask token (the student's input); absent for the teacher, which sees all. */
  mask?: tf.Tensor2D;
  /** Which patch tokens ([images * N], image-major) go through the head: the masked ones. */
  rows: tf.Tensor1D;
}

/**
 * The official MultiCropWrapper: crops of the same resolution go through the backbone together (one forward per
 * resolution, as torch.cat of consecutive same-size crops), then the head runs once on all features.
 */
export class MultiCropWrapper extends Module {
  readonly backbone: VisionTransformer;
  readonly head: DINOHead;

  constructor(readonly config: ModelConfig, seed = 0) {
    super();
    this.backbone = this.child('backbone', new VisionTransformer(config.vit, seed));
    this.head = this.child('head', new DINOHead(config.vit.embedDim, config.head, seed + 1));
  }

  /**
   * `dropPath`: stochastic depth in the backbone (the student's training forward; official drop_path_rate).
   * `masked`: masks for the first group of same-size crops and the patch rows to score (iBOT); their logits come
   * from the same head, in one pass with the CLS features.
   */
  apply(crops: tf.Tensor4D[], dropPath?: DropPathOptions, masked?: MaskedPatches): MultiCropOutput {
    if (crops.length === 0) throw new Error('MultiCropWrapper: no crops given');
    const feats: tf.Tensor2D[] = [];
    let patches: tf.Tensor2D | undefined;
    let start = 0;
    while (start < crops.length) {
      let end = start + 1;
      const size = crops[start]!.shape[1];
      while (end < crops.length && crops[end]!.shape[1] === size) end++;
      const group = end - start === 1 ? crops[start]! : tf.concat(crops.slice(start, end), 0);
      const first = start === 0 && masked;
      const out = this.backbone.apply(group, { dropPath, ...(first ? { mask: masked.mask, patchRows: masked.rows } : {}) });
      feats.push(out.cls);
      if (first) patches = out.patches;
      start = end;
    }
    const features = feats.length === 1 ? feats[0]! : (tf.concat(feats, 0) as tf.Tensor2D);
    if (!patches) return { features, logits: this.head.apply(features) };
    const n = features.shape[0];
    const all = this.head.apply(tf.concat([features, patches], 0) as tf.Tensor2D);
    const K = all.shape[1];
    return {
      features,
      logits: tf.slice(all, [0, 0], [n, K]) as tf.Tensor2D,
      patchLogits: tf.slice(all, [n, 0], [patches.shape[0], K]) as tf.Tensor2D,
    };
  }

  /** A structurally identical copy with the same values (the teacher at step 0), optionally not trainable. */
  cloneWeights(trainable: boolean): MultiCropWrapper {
    const c = new MultiCropWrapper(this.config, 0);
    c.copyFrom(this);
    if (!trainable) for (const [, v] of c.namedParameters()) v.trainable = false;
    return c;
  }
}
