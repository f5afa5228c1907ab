import { RECIPE_NAMES, type RecipeName } from '../types/ModelNames';
import type { ModelConfig } from '../model/modelSizes';
import { paperRecipe, type TrainerOptions } from './TrainerOptions';

export { RECIPE_NAMES, type RecipeName };

export interface RecipeInput {
  model: ModelConfig;
  batchSize: number;
  /** Horizon of the cosine schedules, in steps. */
  horizonSteps: number;
  seed?: number;
}

/**
 * Named training recipes.
 * - paper: main_dino.py's defaults (warm-ups of 10 and 30 "epochs" of 1000 steps, teacher momentum 0.996,
 *   lr 5e-4 x batch/256), kept selectable so every change can be compared with it. One exception: no drop path
 *   (main_dino.py's --drop_path_rate is 0.1), so that it stays the recipe its measured runs used.
 * - stream: tuned on the shared CIFAR-10 stream on 2 cores (small batches, short horizons; docs/experiments.md):
 *   Sinkhorn-Knopp teacher targets instead of the running center (the center lags a fast-moving head and the
 *   targets drifted to uniform), a head of 1024 prototypes instead of ImageNet's 65536/4096, larger local crops
 *   and less aggressive global crops for small images, a sharp teacher (temperature 0.01: Sinkhorn-Knopp
 *   targets are balanced over the batch, so sharpness cannot collapse them onto one prototype; 0.01 is ahead of
 *   0.02 on the mean of two seeds), a faster teacher (momentum 0.99, rising only to 0.996, so it keeps following a student that is
 *   still improving at the end of the horizon) and a higher lr with a short warm-up, and a last layer frozen
 *   only briefly. Drop path 0.1 on the student, as main_dino.py: a regulariser against fitting a folder's few
 *   images late in a long run (ahead at 160k images on both seeds measured, behind at 40k-80k).
 */
export function recipe(name: RecipeName, r: RecipeInput): TrainerOptions {
  const seed = r.seed ?? 0;
  if (name === 'paper') return { ...paperRecipe(r.model, r.batchSize, r.horizonSteps), seed };
  if (name === 'finetune') return finetune(recipe('stream', r));
  const warm = Math.max(1, Math.min(200, Math.floor(r.horizonSteps / 10)));
  const model: ModelConfig = {
    ...r.model,
    head: { ...r.model.head, outDim: Math.min(r.model.head.outDim, 1024) },
    crops: { ...r.model.crops, globalScale: [0.3, 1], localScale: [0.15, 0.5] },
  };
  return {
    ...paperRecipe(model, r.batchSize, r.horizonSteps),
    baseLr: 4e-3,
    warmupSteps: warm,
    momentumTeacher: 0.99,
    momentumTeacherEnd: 0.996,
    warmupTeacherTemp: 0.01,
    teacherTemp: 0.01,
    warmupTeacherTempSteps: 1,
    centering: 'sinkhorn',
    freezeLastLayerSteps: warm,
    dropPathRate: 0.1,
    ibotTeacherTemp: 0.01,
    seed,
  };
}

/**
 * finetune: `stream` for a model that starts from pretrained weights (`--init`), so that online learning adapts to
 * the cameras without first unlearning what the weights know. A fresh head sends large, random gradients into the
 * backbone at first, so the backbone stays frozen while the head and the centre settle (the patch embedding longer);
 * then a lower learning rate and a slow teacher (momentum 0.999 rising to 0.9995), so the teacher the detectors use
 * moves only as far as the student's improvements carry it.
 */
export function finetune(stream: TrainerOptions): TrainerOptions {
  const settle = Math.max(1, Math.min(300, Math.floor(stream.totalSteps / 10)));
  return {
    ...stream,
    baseLr: stream.baseLr / 8,
    momentumTeacher: 0.999,
    momentumTeacherEnd: 0.9995,
    freezeBackboneSteps: settle,
    freezePatchEmbedSteps: 3 * settle,
    freezeLastLayerSteps: 0,
  };
}
