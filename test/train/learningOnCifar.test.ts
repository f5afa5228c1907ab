/**
 * Training the micro model on a small fixed set of real images (CIFAR-10, 20 per class) through the real views.
 * The DINO loss is H(teacher) + KL(teacher || student); centring and sharpening steer the first term (the teacher
 * entropy, which must stay away from 0 and ln(out_dim)), training lowers the second: the student learns to predict
 * the teacher. So: the KL part falls, the features spread out (std of L2-normalised teacher embeddings rises from
 * its near-collapsed random-init value) and end above the collapse monitor's low-std line, and the entropy stays
 * away from 0 and below ln(out_dim). Runs the live recipe ('stream', Sinkhorn-Knopp targets), whose targets on
 * this tiny model sit just below ln(out_dim), above the monitor's 0.98 ln(out_dim) uniform line; whether the
 * features become useful is measured by `eval knn` on the cifar model (README "Evaluation"), not here: the micro
 * model is too small to learn that.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { FrameTrainer } from '../../src/train/FrameTrainer';
import { recipe } from '../../src/train/recipes';
import { modelSize } from '../../src/model/modelSizes';
import { ImageFolder } from '../../src/probe/ImageFolder';
import { Random } from '../../src/util/Random';
import { CollapseMonitor } from '../../src/detect/CollapseMonitor';
import type { Frame } from '../../streams/Frame';
import type { StepResult } from '../../src/train/Trainer';
import { sharedData } from '../helpers/sharedData';

const DATA = sharedData('cifar10');
jest.setTimeout(180_000);

describe('learning on real images (micro model)', () => {
  beforeAll(() => useBackend('wasm'));

  test('loss falls, features spread, no collapse', async () => {
    const data = await ImageFolder.open(DATA, { splits: ['train'] }).load('train', { size: 16, limitPerClass: 20 });
    const frames: Frame[] = data.images.map((rgb, i) => ({ streamId: 'cifar', t: i, index: i, width: 16, height: 16, rgb }));
    const steps = Number(process.env.LEARN_STEPS ?? 300);
    const model = modelSize('micro');
    const ft = new FrameTrainer(recipe('stream', { model, batchSize: 32, horizonSteps: steps, seed: Number(process.env.LEARN_SEED ?? 3) }));
    const rng = new Random(5);
    const n0 = tf.memory().numTensors;
    const log: StepResult[] = [];
    for (let s = 0; s < steps; s++) {
      const batch = Array.from({ length: 32 }, () => frames[rng.int(frames.length)]!);
      log.push(ft.step(batch));
    }
    expect(tf.memory().numTensors).toBe(n0);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = log.slice(0, 5);
    const last = log.slice(-30);
    const lnK = log[0]!.lnOutDim;
    const kl = (r: StepResult) => r.loss - r.teacherEntropy;
    const summary = {
      lossFirst: mean(first.map((r) => r.loss)),
      lossLast: mean(last.map((r) => r.loss)),
      klFirst: mean(first.map(kl)),
      klLast: mean(last.map(kl)),
      stdFirst: log[0]!.embeddingStd,
      stdLast: mean(last.map((r) => r.embeddingStd)),
      entropyLast: mean(last.map((r) => r.teacherEntropy)),
      lnK,
    };
    console.log('micro on CIFAR:', JSON.stringify(summary));
    expect(log.every((r) => Number.isFinite(r.loss))).toBe(true);
    expect(summary.lossLast).toBeLessThan(0.8 * summary.lossFirst);
    expect(summary.klLast).toBeLessThan(0.5 * summary.klFirst);
    // spread: up from the random init, and above CollapseMonitor's low-std line (stdFraction / sqrt(d))
    expect(summary.stdLast).toBeGreaterThan(1.25 * summary.stdFirst);
    expect(summary.stdLast).toBeGreaterThan(new CollapseMonitor().stdFraction / Math.sqrt(model.vit.embedDim));
    expect(summary.entropyLast).toBeLessThan(0.995 * lnK); // not uniform (Sinkhorn targets on micro sit just below)
    expect(summary.entropyLast).toBeGreaterThan(0.2 * lnK); // not one-hot
    ft.dispose();
  });
});
