/** Names the configuration validates before anything is built: the model presets and the training recipes. */
export const MODEL_SIZE_NAMES = ['micro', 'small', 'tiny', 'cifar', 'vits16', 'vits14', 'vits8', 'small-conv', 'cifar-conv'] as const;
export type ModelSizeName = (typeof MODEL_SIZE_NAMES)[number];

export const RECIPE_NAMES = ['stream', 'paper', 'finetune'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];
