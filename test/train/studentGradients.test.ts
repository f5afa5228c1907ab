/**
 * Gradients of the whole student (micro ViT + DINO head + DINO loss) against central finite differences, on the
 * cpu backend (test/helpers/finiteDifferences.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { microStudent } from '../helpers/microStudent';
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
    const { model, loss: studentLoss, dispose } = microStudent(2, cfg);
    const dropPath = () => (rate > 0 ? { rate, rng: new Random(17) } : undefined);
    const f = () => studentLoss(dropPath());
    if (rate > 0) {
      // the masks must change the loss, or this case would only repeat the first
      const [on, off] = tf.tidy(() => [f().dataSync()[0]!, studentLoss().dataSync()[0]!]);
      expect(Math.abs(on - off)).toBeGreaterThan(1e-3);
    }
    // the mask token only enters masked forwards (test/train/IBOTPatchLoss.test.ts)
    const params = model.namedParameters().filter(([n, v]) => v.trainable && !n.endsWith('mask_token'));
    const { failures, total } = gradientFailures(params, f);
    expect(failures).toEqual([]);
    // the probe is meaningful only if gradients are not all ~0
    expect(total).toBeGreaterThan(1e-2);
    dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});
