import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { Trainer } from '../../src/train/Trainer';
import { Embedder } from '../../src/model/Embedder';
import { paperRecipe } from '../../src/train/TrainerOptions';
import { modelSize } from '../../src/model/modelSizes';
import { batchFor } from './resumeRun';

describe.each(['wasm', 'cpu'] as const)('no tensor leaks (%s)', (backend) => {
  beforeAll(() => useBackend(backend));

  test('a training step, from the very first one', () => {
    const trainer = new Trainer(paperRecipe(modelSize('micro'), 4, 20, 2));
    const crops = batchFor(0);
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      trainer.trainStep(crops);
      expect(tf.memory().numTensors).toBe(n0);
    }
    tf.dispose(crops);
    trainer.dispose();
  });

  test('teacher inference, with and without attention maps', async () => {
    const trainer = new Trainer(paperRecipe(modelSize('micro'), 4, 20, 2));
    const embedder = new Embedder(trainer.teacher.backbone);
    const images = tf.randomUniform([3, 16, 16, 3]) as tf.Tensor4D;
    const n0 = tf.memory().numTensors;
    const out = await embedder.embedToArrays(images, { attention: true });
    expect(tf.memory().numTensors).toBe(n0);
    expect(out.normalized).toHaveLength(3);
    expect(out.normalized[0]).toHaveLength(16);
    // normalised rows have unit norm; the CLS attention over 16 patches of 2 heads sums to at most 1
    const norm = Math.hypot(...out.normalized[1]!);
    expect(norm).toBeCloseTo(1, 5);
    expect(out.attention![0]).toHaveLength(2 * 16);
    const head0 = out.attention![0]!.slice(0, 16).reduce((a, b) => a + b, 0);
    expect(head0).toBeGreaterThan(0);
    expect(head0).toBeLessThan(1);
    const r = embedder.embed(images);
    tf.dispose([r.normalized, r.raw]);
    expect(tf.memory().numTensors).toBe(n0);
    images.dispose();
    trainer.dispose();
  });
});
