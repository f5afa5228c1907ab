import * as tf from '@tensorflow/tfjs';
import { configSchema } from '../../config/schema';
import { MODEL_SIZE_NAMES, PRESET_TRAIN_DEFAULTS } from '../../src/types/ModelNames';
import { modelSize } from '../../src/model/modelSizes';
import { defaultBatchSize, maxWasmBatch, stepBytesPerImage, wasmBatchProblem } from '../../src/model/stepMemory';
import { TrainerService } from '../../src/train/TrainerService';
import { recipe } from '../../src/train/recipes';
import { useBackend } from '../helpers/backend';

describe('training-step memory and the batch defaults it sets', () => {
  test('ViT-S/16 at 224/96 px: the per-image estimate equals the hand count', () => {
    // 12 blocks; global crops 14x14+1 = 197 tokens, local 6x6+1 = 37; D 384, 6 heads; fp32
    const perCrop = (T: number) => 16 * T * 384 + 2 * 6 * T * T;
    expect(stepBytesPerImage(modelSize('vits16'))).toBe(4 * 12 * (2 * perCrop(197) + 8 * perCrop(37)));
  });

  test('the measured limits: ViT-S/16 fits at 13 and not at 15, ViT-S/8 at 2 and not at 4', () => {
    const s16 = modelSize('vits16');
    expect(wasmBatchProblem(s16, 13)).toBeNull();
    expect(wasmBatchProblem(s16, 15)).toMatch(/batch 15 needs about 3\.6 GB .*set train\.batchSize \(--batch\) to 13 or less/);
    const s8 = modelSize('vits8');
    expect(wasmBatchProblem(s8, 2)).toBeNull();
    expect(wasmBatchProblem(s8, 4)).toMatch(/to 2 or less/);
    expect(maxWasmBatch(modelSize('vits14'))).toBeGreaterThanOrEqual(8);
  });

  test('the presets table in src/types is what the estimate gives; the other models keep 16 and 64 px', () => {
    for (const name of MODEL_SIZE_NAMES) {
      const m = modelSize(name);
      const cfg = configSchema.parse({ model: { size: name } });
      const preset = PRESET_TRAIN_DEFAULTS[name];
      expect({ name, batch: cfg.train.batchSize }).toEqual({ name, batch: defaultBatchSize(m) });
      expect({ name, frame: cfg.train.frameSize }).toEqual({ name, frame: preset ? m.crops.globalSize : 64 });
    }
    // a batch or frame size the user set is kept
    expect(configSchema.parse({ model: { size: 'vits16' }, train: { batchSize: 4, frameSize: 256 } }).train).toMatchObject({ batchSize: 4, frameSize: 256 });
  });

  test('the trainer refuses a batch past the wasm heap at start, naming the batch that fits', async () => {
    const trainer = recipe('finetune', { model: modelSize('vits8'), batchSize: 4, horizonSteps: 100 });
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    await expect(TrainerService.create({ trainer, backend: { backend: 'wasm' } }, () => undefined)).rejects.toThrow(/batch 4 needs about 6\.0 GB .*to 2 or less/);
    expect(tf.memory().numTensors).toBe(before); // refused before any weight was made
  });
});
