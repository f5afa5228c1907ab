/**
 * Teacher inference on webgpu (the agent's embedder and the k-NN features): the normalised and raw CLS features and
 * the last block's CLS attention equal the cpu backend's for the same weights and frames, read back with no tensor
 * left behind and no error reported by the device.
 */
import * as tf from '@tensorflow/tfjs';

import { Embedder } from '../../src/model/Embedder';
import { takeWebGPUErrors } from '../../src/backend/webgpuBackend';
import { Trainer } from '../../src/train/Trainer';
import { paperRecipe } from '../../src/train/TrainerOptions';
import { modelSize } from '../../src/model/modelSizes';
import { expectClose, useBackend } from '../helpers/backend';
import { describeWithWebGPU } from '../helpers/webgpu';

jest.setTimeout(120_000);

describeWithWebGPU('teacher inference on webgpu', () => {
  test('features and CLS attention equal the cpu backend, no tensor left, no device error', async () => {
    await useBackend('cpu');
    const trainer = new Trainer(paperRecipe(modelSize('micro'), 4, 20, 2));
    const embedder = new Embedder(trainer.teacher.backbone);
    const images = tf.randomUniform([3, 16, 16, 3], -2, 2, 'float32', 7) as tf.Tensor4D;
    const cpu = await embedder.embedToArrays(images, { attention: true });

    // the weights and frames move to the GPU on first use
    await useBackend('webgpu');
    const n0 = tf.memory().numTensors;
    const gpu = await embedder.embedToArrays(images, { attention: true });
    expect(tf.memory().numTensors).toBe(n0);
    expect(takeWebGPUErrors()).toEqual([]);

    expect(gpu.normalized).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      expectClose(gpu.normalized[i]!, cpu.normalized[i]!, 1e-5, 1e-4, `normalized[${i}]`);
      expectClose(gpu.raw[i]!, cpu.raw[i]!, 1e-5, 1e-4, `raw[${i}]`);
      expectClose(gpu.attention![i]!, cpu.attention![i]!, 1e-6, 1e-4, `attention[${i}]`);
    }
    // not a constant output: the three frames embed differently
    expect(Math.abs(gpu.normalized[0]![0]! - gpu.normalized[1]![0]!)).toBeGreaterThan(1e-4);
    images.dispose();
    trainer.dispose();
    await useBackend('cpu');
  });
});
