import { modelSize } from '../model/modelSizes';
import { recipe, type RecipeInput, type RecipeName } from './recipes';
import type { TrainerOptions } from './TrainerOptions';
import { modelForWeights, readPretrained, type PretrainedWeights } from '../pretrained/PretrainedWeights';

/**
 * Trainer options for a named model and recipe, and with `init` the model those weights need: the file's ViT and,
 * when it has one, its head, which the recipe must not resize (a `stream` recipe caps the prototypes).
 */
export function trainerOptionsFor(
  size: string,
  name: RecipeName,
  r: Omit<RecipeInput, 'model'>,
  init?: string | null,
): { options: TrainerOptions; weights?: PretrainedWeights } {
  const preset = modelSize(size);
  if (!init) return { options: recipe(name, { ...r, model: preset }) };
  const weights = readPretrained(init);
  const model = modelForWeights(preset, weights, size);
  const options = recipe(name, { ...r, model });
  if (weights.arch.head) options.model = { ...options.model, head: weights.arch.head };
  return { options, weights };
}
