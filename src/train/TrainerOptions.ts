import type { ModelConfig } from '../model/modelSizes';
import type { Centering } from './DINOLoss';

/** How the KoLeo weight moves with the step count (see TrainerOptions.koleoSchedule). */
export const KOLEO_SCHEDULES = ['constant', 'cosine'] as const;
export type KoleoSchedule = (typeof KOLEO_SCHEDULES)[number];

/**
 * Everything that defines a DINO run besides the data. Names follow main_dino.py where one exists;
 * counts are in steps, not epochs (a stream has no epochs).
 */
export interface TrainerOptions {
  model: ModelConfig;
  /** Images per step (before multi-crop). Used for the official lr scaling lr = baseLr * batch / 256. */
  batchSize: number;
  /** Learning rate at batch 256 (official --lr 5e-4). */
  baseLr: number;
  /** Final lr of the cosine (official --min_lr 1e-6). */
  minLr: number;
  warmupSteps: number;
  /** Horizon of the cosine schedules (lr, weight decay, teacher momentum); they hold their last value after it. */
  totalSteps: number;
  weightDecay: number;
  weightDecayEnd: number;
  /** Base EMA momentum of the teacher, cosine to momentumTeacherEnd over totalSteps. */
  momentumTeacher: number;
  /**
   * Final teacher momentum (official: 1). Below 1 the teacher keeps following the student at the end of a run and
   * past the horizon of a live stream, instead of freezing. Optional so that older checkpoints load; absent means 1.
   */
  momentumTeacherEnd?: number;
  warmupTeacherTemp: number;
  teacherTemp: number;
  warmupTeacherTempSteps: number;
  studentTemp: number;
  centerMomentum: number;
  /** 'center' (official DINO) or 'sinkhorn' (DINOv2-style Sinkhorn-Knopp targets). */
  centering: Centering;
  /** Per-parameter gradient-norm clip (official --clip_grad 3.0); 0 disables. */
  clipGrad: number;
  /** Steps during which the head's last layer gets no update (official --freeze_last_layer, 1 epoch). */
  freezeLastLayerSteps: number;
  /**
   * Weight of DINOv2's KoLeo regulariser on the student's backbone CLS of each global crop batch (DINOv2: 0.1);
   * 0 (the paper's DINO) turns it off. Optional so that checkpoints written before it existed still load.
   */
  koleoWeight?: number;
  /**
   * How the KoLeo weight moves with the step count: 'constant' (DINOv2), or 'cosine' from koleoWeight down to 0 at
   * the horizon, for a regulariser that spreads the features early (where it helps k-NN most) and lets the
   * classes gather later. Optional for older checkpoints; absent means 'constant'.
   */
  koleoSchedule?: KoleoSchedule;
  /**
   * Stochastic depth of the student (official --drop_path_rate, main_dino.py's default 0.1; the teacher never drops):
   * the last block's per-image drop probability, 0 for the first. Optional so that older checkpoints load; absent
   * means 0. `stream` uses 0.1; `paper` keeps 0, as its numbers in README.md were measured without it.
   */
  dropPathRate?: number;
  /**
   * Weight of iBOT's masked-patch loss beside the DINO loss (IBOTPatchLoss; iBOT and DINOv2: 1): the student sees
   * block-masked global crops and predicts the teacher's patch distributions at the masked tokens, through the
   * same head. 0 turns it off. Optional so that older checkpoints load; absent means 0.
   */
  ibotWeight?: number;
  /** Share of the global crop images that are masked at all (DINOv2: 0.5). */
  ibotMaskProbability?: number;
  /** Range of the masked share of a masked image's tokens (DINOv2: 0.1 to 0.5). */
  ibotMaskRatioMin?: number;
  ibotMaskRatioMax?: number;
  /** Teacher temperature of the patch targets (iBOT: 0.04 warming to 0.07 with the centre; DINOv2: the CLS one). */
  ibotTeacherTemp?: number;
  /**
   * Steps during which the backbone gets no update, only the head (a fresh head on pretrained weights would send
   * random gradients into them). Optional so that older checkpoints load; absent means 0.
   */
  freezeBackboneSteps?: number;
  /** Steps during which the patch embedding gets no update (pretrained low-level filters kept longer). Absent: 0. */
  freezePatchEmbedSteps?: number;
  /** Seed of the weight initialisation. */
  seed: number;
}

/** The paper's recipe (main_dino.py defaults for ViT), with epoch counts turned into a step horizon. */
export function paperRecipe(model: ModelConfig, batchSize: number, totalSteps = 100_000, stepsPerEpoch = 1000): TrainerOptions {
  return {
    model,
    batchSize,
    baseLr: 5e-4,
    minLr: 1e-6,
    warmupSteps: Math.min(10 * stepsPerEpoch, Math.floor(totalSteps / 2)),
    totalSteps,
    weightDecay: 0.04,
    weightDecayEnd: 0.4,
    momentumTeacher: 0.996,
    momentumTeacherEnd: 1,
    warmupTeacherTemp: 0.04,
    teacherTemp: 0.04,
    warmupTeacherTempSteps: Math.min(30 * stepsPerEpoch, Math.floor(totalSteps / 2)),
    studentTemp: 0.1,
    centerMomentum: 0.9,
    centering: 'center',
    clipGrad: 3.0,
    freezeLastLayerSteps: stepsPerEpoch,
    koleoWeight: 0,
    koleoSchedule: 'constant',
    dropPathRate: 0,
    ibotWeight: 0,
    ibotMaskProbability: 0.5,
    ibotMaskRatioMin: 0.1,
    ibotMaskRatioMax: 0.5,
    ibotTeacherTemp: 0.04,
    seed: 0,
  };
}
