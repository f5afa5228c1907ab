/** Names the configuration validates before anything is built: the model presets and the training recipes. */
export const MODEL_SIZE_NAMES = ['micro', 'small', 'tiny', 'cifar', 'vits16', 'vits14', 'vits8', 'small-conv', 'cifar-conv'] as const;
export type ModelSizeName = (typeof MODEL_SIZE_NAMES)[number];

export const RECIPE_NAMES = ['stream', 'paper', 'finetune'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];

/**
 * Training defaults of the presets that the global ones (batch 16, 64 px frames) do not suit: frames at the global
 * crop size, and the largest power-of-two batch whose step fits the wasm heap (src/model/stepMemory.ts; a test keeps
 * this table and that estimate in step).
 */
export const PRESET_TRAIN_DEFAULTS: Partial<Record<ModelSizeName, { batchSize: number; frameSize: number }>> = {
  vits16: { batchSize: 8, frameSize: 224 },
  vits14: { batchSize: 8, frameSize: 224 },
  vits8: { batchSize: 2, frameSize: 224 },
};
