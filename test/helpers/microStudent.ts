import * as tf from '@tensorflow/tfjs';
import { MultiCropWrapper } from '../../src/model/MultiCropWrapper';
import { DINOLoss } from '../../src/train/DINOLoss';
import { modelSize, type ModelConfig } from '../../src/model/modelSizes';
import type { DropPathOptions } from '../../src/model/DropPath';

/**
 * A student with its DINO loss on fixed random crops (2 global 16x16, 2 local 8x8) and fixed soft targets: the
 * problem the gradient tests differentiate. `loss(dropPath?)` is the scalar to take gradients of.
 */
export function microStudent(B: number, cfg: ModelConfig = modelSize('micro')) {
  const model = new MultiCropWrapper(cfg, 3);
  const dino = new DINOLoss({ outDim: cfg.head.outDim, nCrops: 2 + cfg.crops.nLocal });
  const crops = [
    ...[0, 1].map((i) => tf.randomUniform([B, 16, 16, 3], -2, 2, 'float32', 10 + i) as tf.Tensor4D),
    ...[0, 1].map((i) => tf.randomUniform([B, 8, 8, 3], -2, 2, 'float32', 20 + i) as tf.Tensor4D),
  ];
  const targets = tf.tidy(() => tf.softmax(tf.randomNormal([2 * B, cfg.head.outDim], 0, 3, 'float32', 5))) as tf.Tensor2D;
  return {
    model,
    crops,
    targets,
    loss: (dropPath?: DropPathOptions) => dino.lossFromTargets(model.apply(crops, dropPath).logits, targets),
    dispose: () => {
      tf.dispose([...crops, targets]);
      model.dispose();
      dino.dispose();
    },
  };
}
