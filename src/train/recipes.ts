import type { ModelConfig } from '../model/modelSizes';
import { paperRecipe, type TrainerOptions } from './TrainerOptions';

export type RecipeName = 'paper' | 'stream';

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
 *   lr 5e-4 x batch/256), kept selectable so every change can be compared with it.
 * - stream: tuned for a live feed on 2 cores (small batches, short horizons, see README "Recipe"): a faster
 *   teacher, a higher lr with a short warm-up, and a last layer frozen only briefly.
 */
export function recipe(name: RecipeName, r: RecipeInput): TrainerOptions {
  const seed = r.seed ?? 0;
  if (name === 'paper') return { ...paperRecipe(r.model, r.batchSize, r.horizonSteps), seed };
  const warm = Math.max(1, Math.min(200, Math.floor(r.horizonSteps / 10)));
  return {
    ...paperRecipe(r.model, r.batchSize, r.horizonSteps),
    baseLr: 2e-3,
    warmupSteps: warm,
    momentumTeacher: 0.99,
    warmupTeacherTemp: 0.04,
    teacherTemp: 0.04,
    warmupTeacherTempSteps: 1,
    freezeLastLayerSteps: warm,
    seed,
  };
}
