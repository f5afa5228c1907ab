import * as tf from '@tensorflow/tfjs';
import { Trainer, type StepResult } from './Trainer';
import type { TrainerOptions } from './TrainerOptions';
import { DataAugmentationDINO } from '../views/DataAugmentationDINO';
import { framesToTensor } from '../views/framesToTensor';
import type { Frame } from '../../streams/Frame';

/**
 * The unit the pipeline trains: a batch of raw frames -> DINO multi-crop views -> one Trainer step.
 * Owns the augmentation RNG so that a checkpoint can restore it with the weights.
 */
export class FrameTrainer {
  readonly trainer: Trainer;
  readonly views: DataAugmentationDINO;

  constructor(opts: TrainerOptions, viewSeed = opts.seed + 1) {
    this.trainer = new Trainer(opts);
    const c = opts.model.crops;
    this.views = new DataAugmentationDINO({
      globalSize: c.globalSize,
      localSize: c.localSize,
      nLocal: c.nLocal,
      globalScale: c.globalScale,
      localScale: c.localScale,
      jitterStrength: c.jitterStrength,
      grayscaleP: c.grayscaleP,
      seed: viewSeed,
    });
  }

  step(frames: readonly Frame[]): StepResult {
    const crops = this.crops(frames);
    try {
      return this.trainer.trainStep(crops);
    } finally {
      tf.dispose(crops);
    }
  }

  /** The same step read back asynchronously (Trainer.trainStepAsync): the form every backend, webgpu too, runs. */
  async stepAsync(frames: readonly Frame[]): Promise<StepResult> {
    const crops = this.crops(frames);
    try {
      return await this.trainer.trainStepAsync(crops);
    } finally {
      tf.dispose(crops);
    }
  }

  private crops(frames: readonly Frame[]): tf.Tensor4D[] {
    return tf.tidy(() => this.views.apply(framesToTensor(frames)));
  }

  /** Extra state for checkpoints besides the trainer's tensors. */
  extraState(): Record<string, unknown> {
    return { viewsRng: this.views.getState(), masksRng: this.trainer.maskState() };
  }

  restoreExtra(extra: Record<string, unknown>): void {
    if (typeof extra['viewsRng'] === 'number') this.views.setState(extra['viewsRng']);
    if (typeof extra['masksRng'] === 'number') this.trainer.setMaskState(extra['masksRng']);
  }

  dispose(): void {
    this.trainer.dispose();
  }
}
