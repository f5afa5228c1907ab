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

  /** `dropPath`: stochastic depth in the backbone (the student's training forward; official drop_path_rate). */
  apply(crops: tf.Tensor4D[], dropPath?: DropPathOptions): MultiCropOutput {
    if (crops.length === 0) throw new Error('MultiCropWrapper: no crops given');
    const feats: tf.Tensor2D[] = [];
    let start = 0;
    while (start < crops.length) {
      let end = start + 1;
      const size = crops[start]!.shape[1];
      while (end < crops.length && crops[end]!.shape[1] === size) end++;
      const group = end - start === 1 ? crops[start]! : tf.concat(crops.slice(start, end), 0);
      feats.push(this.backbone.apply(group, { dropPath }).cls);
      start = end;
    }
    const features = feats.length === 1 ? feats[0]! : (tf.concat(feats, 0) as tf.Tensor2D);
    return { features, logits: this.head.apply(features) };
  }

  /** A structurally identical copy with the same values (the teacher at step 0), optionally not trainable. */
  cloneWeights(trainable: boolean): MultiCropWrapper {
    const c = new MultiCropWrapper(this.config, 0);
    c.copyFrom(this);
    if (!trainable) for (const [, v] of c.namedParameters()) v.trainable = false;
    return c;
  }
}
