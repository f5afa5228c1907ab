import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Trainer } from '../../src/train/Trainer';
import { paperRecipe, type TrainerOptions } from '../../src/train/TrainerOptions';
import { modelSize } from '../../src/model/modelSizes';
import { CheckpointStore } from '../../src/train/CheckpointStore';
import { restoreTrainer, saveTrainer } from '../../src/train/TrainerCheckpoint';

/** Options of the resume tests: short schedules so that every schedule moves during the few steps. */
export function resumeOptions(): TrainerOptions {
  return { ...paperRecipe(modelSize('micro'), 4, 20, 2), warmupSteps: 2, warmupTeacherTempSteps: 3, freezeLastLayerSteps: 2, baseLr: 0.5 };
}

/** The batch of step `i`: a pure function of i, so any process can regenerate it. */
export function batchFor(i: number): tf.Tensor4D[] {
  return tf.tidy(() => [
    ...[0, 1].map((k) => tf.randomUniform([4, 16, 16, 3], -1, 1, 'float32', 1000 * i + k) as tf.Tensor4D),
    ...[2, 3].map((k) => tf.randomUniform([4, 8, 8, 3], -1, 1, 'float32', 1000 * i + k) as tf.Tensor4D),
  ]);
}

export function runSteps(trainer: Trainer, n: number): number[] {
  const losses: number[] = [];
  for (let k = 0; k < n; k++) {
    const crops = batchFor(trainer.stepCount);
    losses.push(trainer.trainStep(crops).loss);
    tf.dispose(crops);
  }
  return losses;
}

export function weightsOf(trainer: Trainer): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [n, t] of trainer.getState().tensors) out[n] = Array.from(t.dataSync());
  return out;
}

export async function saveRun(dir: string, steps: number): Promise<number[]> {
  const trainer = new Trainer(resumeOptions());
  const losses = runSteps(trainer, steps);
  await saveTrainer(new CheckpointStore(dir), trainer);
  trainer.dispose();
  return losses;
}

export async function resumeRun(dir: string, steps: number, backend: string): Promise<{ step0: number; losses: number[]; weights: Record<string, number[]> }> {
  await tf.setBackend(backend);
  const trainer = new Trainer(resumeOptions());
  const ckpt = await new CheckpointStore(dir).loadLatest();
  if (!ckpt) throw new Error(`no checkpoint in ${dir}`);
  restoreTrainer(trainer, ckpt);
  const step0 = trainer.stepCount;
  const losses = runSteps(trainer, steps);
  const weights = weightsOf(trainer);
  trainer.dispose();
  return { step0, losses, weights };
}
