/**
 * Gradients of the whole student (micro ViT + DINO head + DINO loss) against central finite differences, on the
 * cpu backend (test/helpers/finiteDifferences.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { MultiCropWrapper } from '../../src/model/MultiCropWrapper';
import { DINOLoss } from '../../src/train/DINOLoss';
import { modelSize, type ModelConfig } from '../../src/model/modelSizes';
import { Random } from '../../src/util/Random';
import { gradientFailures } from '../helpers/finiteDifferences';

describe('student gradients vs finite differences', () => {
  beforeAll(() => useBackend('cpu'));

  const micro = modelSize('micro');
  // the micro model with a convolutional stem: 3x3 stride-2 convolutions 3 -> 4 -> 8, then a 1x1 to 16
  const microConv: ModelConfig = { ...micro, vit: { ...micro.vit, stem: [4, 8] } };

  // with drop path, every evaluation redraws the same masks (a fresh generator of one seed), so the loss is one
  // function of the weights; the micro model's 2 blocks drop at 0 and 0.5
  test.each([
    ['patch embedding', 0, micro],
    ['patch embedding', 0.5, micro],
    ['convolutional stem', 0, microConv],
  ] as const)('every parameter of the micro student (%s, drop path rate %p)', (_name, rate, cfg) => {
    const n0 = tf.memory().numTensors;
    const B = 2;
    const model = new MultiCropWrapper(cfg, 3);
    const loss = new DINOLoss({ outDim: cfg.head.outDim, nCrops: 2 + cfg.crops.nLocal });
    const crops = [
      ...[0, 1].map((i) => tf.randomUniform([B, 16, 16, 3], -2, 2, 'float32', 10 + i) as tf.Tensor4D),
      ...[0, 1].map((i) => tf.randomUniform([B, 8, 8, 3], -2, 2, 'float32', 20 + i) as tf.Tensor4D),
    ];
    const targets = tf.tidy(() => tf.softmax(tf.randomNormal([2 * B, cfg.head.outDim], 0, 3, 'float32', 5))) as tf.Tensor2D;
    const dropPath = () => (rate > 0 ? { rate, rng: new Random(17) } : undefined);
    const f = () => loss.lossFromTargets(model.apply(crops, dropPath()).logits, targets);
    if (rate > 0) {
      // the masks must change the loss, or this case would only repeat the first
      const [on, off] = tf.tidy(() => [f().dataSync()[0]!, loss.lossFromTargets(model.apply(crops).logits, targets).dataSync()[0]!]);
      expect(Math.abs(on - off)).toBeGreaterThan(1e-3);
    }
    // the mask token only enters masked forwards (test/engine/IBOTPatchLoss.test.ts)
    const params = model.namedParameters().filter(([n, v]) => v.trainable && !n.endsWith('mask_token'));
    const { failures, total } = gradientFailures(params, f);
    expect(failures).toEqual([]);
    // the probe is meaningful only if gradients are not all ~0
    expect(total).toBeGreaterThan(1e-2);
    tf.dispose([...crops, targets]);
    model.dispose();
    loss.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});
