import type { ModelConfig } from './modelSizes';

/**
 * What one training step keeps alive for the backward pass, per image: for every crop (2 global, nLocal local) and
 * every block, about 16 activations of T x D (norms, q/k/v, attention output, projection, the 4D-wide MLP before and
 * after GELU, residuals) and 2 of H x T x T (scores and probabilities), in fp32: ViT-S/16 with 224 px global and 96 px
 * local crops ~243 MB an image, ViT-S/14 ~341 MB, ViT-S/8 ~1.5 GB.
 */
export function stepBytesPerImage(model: ModelConfig): number {
  const { vit, crops } = model;
  const extra = 1 + (vit.numRegisterTokens ?? 0);
  const tokens = (px: number) => Math.floor(px / vit.patchSize) ** 2 + extra;
  const perCrop = (T: number) => 16 * T * vit.embedDim + 2 * vit.numHeads * T * T;
  return 4 * vit.depth * (2 * perCrop(tokens(crops.globalSize)) + crops.nLocal * perCrop(tokens(crops.localSize)));
}

/**
 * The wasm backend's heap is one 32-bit WebAssembly memory (4 GB at most) holding weights, optimiser state and a
 * step's activations. Past it the allocator does not fail: it spins, and the step never ends. Measured with
 * bench:presets' training step: ViT-S/16 ran at batch 13 (3.08 GB by this estimate; peak RSS 4.1 GB) and never
 * finished at 15 (3.56 GB) or 16; ViT-S/8 ran at batch 2 (3.0 GB) and not at 4; ViT-S/14 ran at 8 (2.7 GB).
 */
export const WASM_STEP_BUDGET_BYTES = 3.1 * 2 ** 30;

/** The largest batch whose step fits the wasm heap (at least 1). */
export function maxWasmBatch(model: ModelConfig): number {
  return Math.max(1, Math.floor(WASM_STEP_BUDGET_BYTES / stepBytesPerImage(model)));
}

/** The default training batch of a model: 16, or the largest power of two whose step fits the wasm heap. */
export function defaultBatchSize(model: ModelConfig): number {
  return Math.max(2, Math.min(16, 2 ** Math.floor(Math.log2(maxWasmBatch(model)))));
}

/** Why a batch cannot train on the wasm backend, or null when it fits. */
export function wasmBatchProblem(model: ModelConfig, batchSize: number): string | null {
  const need = stepBytesPerImage(model) * batchSize;
  if (need <= WASM_STEP_BUDGET_BYTES) return null;
  const gb = (b: number) => (b / 2 ** 30).toFixed(1);
  const max = maxWasmBatch(model);
  return (
    `a training step at batch ${batchSize} needs about ${gb(need)} GB of activations (${model.crops.globalSize} px global crops, ` +
    `${model.crops.nLocal} local), more than the wasm backend's heap holds (${gb(WASM_STEP_BUDGET_BYTES)} GB for a step): ` +
    (max >= 2 ? `set train.batchSize (--batch) to ${max} or less` : 'this model cannot train on wasm; use --no-train (embedding only) or the tensorflow backend')
  );
}
