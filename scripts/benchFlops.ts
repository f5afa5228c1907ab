/**
 * Floating-point work of the benchmarked computations, counted as the matrix products do it (2 flops per
 * multiply-add; the elementwise ops, a few percent, are left out), so GFLOP/s can be printed beside ms/step.
 */
import type { ModelConfig, ViTConfig } from '../src/model/modelSizes';

/** Matmul flops of one ViT forward on `images` images of side `size` (patch embedding, blocks; CLS LayerNorm free). */
export function vitForwardFlops(vit: ViTConfig, images: number, size: number): number {
  const D = vit.embedDim;
  const patches = (size / vit.patchSize) ** 2;
  const T = patches + 1;
  const hidden = Math.round(D * vit.mlpRatio);
  const patchEmbed = 2 * images * patches * vit.patchSize * vit.patchSize * 3 * D;
  const linears = 2 * images * T * (D * 3 * D + D * D + D * hidden + hidden * D);
  const attention = 2 * images * 2 * T * T * D; // q k^T and p v over all heads
  return patchEmbed + vit.depth * (linears + attention);
}

/** Matmul flops of the DINO head on `rows` features (MLP, then the weight-normalised last layer). */
export function headForwardFlops(model: ModelConfig, rows: number): number {
  const { hiddenDim, bottleneckDim, outDim, nlayers } = model.head;
  const n = Math.max(nlayers, 1);
  const dims = n === 1 ? [model.vit.embedDim, bottleneckDim] : [model.vit.embedDim, ...Array(n - 1).fill(hiddenDim), bottleneckDim];
  let f = 0;
  for (let i = 0; i < n; i++) f += 2 * rows * dims[i]! * dims[i + 1]!;
  return f + 2 * rows * bottleneckDim * outDim;
}

/**
 * One DINO training step at batch B: teacher forward on the 2 global crops, student forward on every crop and its
 * backward (twice the forward's products: input and weight gradients), less the input gradient of the patch
 * embedding (pixels need none).
 */
export function trainStepFlops(model: ModelConfig, B: number): number {
  const { globalSize, localSize, nLocal } = model.crops;
  const vit = model.vit;
  const studentFwd = vitForwardFlops(vit, 2 * B, globalSize) + vitForwardFlops(vit, nLocal * B, localSize) +
    headForwardFlops(model, (2 + nLocal) * B);
  const patchEmbedFwd = vitForwardFlops({ ...vit, depth: 0 }, 2 * B, globalSize) +
    vitForwardFlops({ ...vit, depth: 0 }, nLocal * B, localSize);
  const teacherFwd = vitForwardFlops(vit, 2 * B, globalSize) + headForwardFlops(model, 2 * B);
  return teacherFwd + studentFwd + 2 * studentFwd - patchEmbedFwd;
}
