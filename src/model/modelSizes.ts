/** Architecture of the ViT backbone (official vision_transformer.py names). */
export interface ViTConfig {
  patchSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** Global crop size: the position embedding is learned for this grid and interpolated for other sizes. */
  imgSize: number;
  /**
   * Channels of a convolutional stem (ConvStem: one 3x3 stride-2 convolution per entry, then a 1x1 to embedDim) in
   * place of the patchify matmul; 2^length must equal patchSize. Absent: the official patch embedding (and
   * checkpoints written before the option existed, which have none, load as that).
   */
  stem?: number[];
}

/** DINOHead (official names): nlayers-MLP to a bottleneck, L2-normalise, weight-normalised last layer. */
export interface HeadConfig {
  hiddenDim: number;
  bottleneckDim: number;
  outDim: number;
  nlayers: number;
  normLastLayer: boolean;
}

/** Multi-crop geometry the model is trained with. */
export interface CropConfig {
  globalSize: number;
  localSize: number;
  nLocal: number;
  /** Area fractions of the random resized crops (official: global 0.4-1, local 0.05-0.4). */
  globalScale: [number, number];
  localScale: [number, number];
  /**
   * Scale of DINO's colour jitter (brightness .4, contrast .4, saturation .2, hue .1 times this; 0 = none).
   * Optional so that checkpoints written before it existed still load (as 1).
   */
  jitterStrength?: number;
  /** Probability of RandomGrayscale (DINO: 0.2); optional for the same reason (as 0.2). */
  grayscaleP?: number;
}

export interface ModelConfig {
  vit: ViTConfig;
  head: HeadConfig;
  crops: CropConfig;
}

function size(
  vit: Omit<ViTConfig, 'mlpRatio' | 'stem'>,
  head: Omit<HeadConfig, 'nlayers' | 'normLastLayer'>,
  crops: Omit<CropConfig, 'globalScale' | 'localScale' | 'jitterStrength' | 'grayscaleP'>,
): ModelConfig {
  return {
    vit: { ...vit, mlpRatio: 4 },
    head: { ...head, nlayers: 3, normLastLayer: true },
    crops: { ...crops, globalScale: [0.4, 1], localScale: [0.05, 0.4], jitterStrength: 1, grayscaleP: 0.2 },
  };
}

/** The same size with a convolutional stem of channels [D/4, D/2, ...] (Xiao et al.'s doubling, ending below D). */
function withConvStem(m: ModelConfig): ModelConfig {
  const n = Math.log2(m.vit.patchSize);
  const stem = Array.from({ length: n }, (_, i) => m.vit.embedDim / 2 ** (n - i));
  return { ...m, vit: { ...m.vit, stem } };
}

/**
 * Named sizes.
 * - micro: for tests (finite differences, leak checks) — seconds on the cpu backend.
 * - small: the live default on 2 cores (DESIGN.md: ~300 ms/step on wasm at batch 16).
 * - tiny: bench-tiny of DESIGN.md, the benchmark configuration PyTorch was measured with.
 * - cifar: the evaluation configuration of issue 6 (32 px images, patch 4).
 * - small-conv, cifar-conv: small and cifar with a convolutional stem (ConvStem) in place of the patch embedding.
 */
const BASE_SIZES = {
  micro: size(
    { patchSize: 4, embedDim: 16, depth: 2, numHeads: 2, imgSize: 16 },
    { hiddenDim: 32, bottleneckDim: 16, outDim: 64 },
    { globalSize: 16, localSize: 8, nLocal: 2 },
  ),
  small: size(
    { patchSize: 4, embedDim: 96, depth: 4, numHeads: 3, imgSize: 32 },
    { hiddenDim: 512, bottleneckDim: 128, outDim: 2048 },
    { globalSize: 32, localSize: 16, nLocal: 4 },
  ),
  tiny: size(
    { patchSize: 8, embedDim: 192, depth: 6, numHeads: 3, imgSize: 64 },
    { hiddenDim: 512, bottleneckDim: 128, outDim: 4096 },
    { globalSize: 64, localSize: 32, nLocal: 4 },
  ),
  cifar: size(
    { patchSize: 4, embedDim: 192, depth: 6, numHeads: 3, imgSize: 32 },
    { hiddenDim: 512, bottleneckDim: 128, outDim: 4096 },
    { globalSize: 32, localSize: 16, nLocal: 4 },
  ),
} as const satisfies Record<string, ModelConfig>;

const CONV_SIZES = {
  'small-conv': withConvStem(BASE_SIZES.small),
  'cifar-conv': withConvStem(BASE_SIZES.cifar),
};

export const MODEL_SIZES = { ...BASE_SIZES, ...CONV_SIZES } as const satisfies Record<string, ModelConfig>;

export type ModelSizeName = keyof typeof MODEL_SIZES;

export function modelSize(name: string): ModelConfig {
  const m = (MODEL_SIZES as Record<string, ModelConfig>)[name];
  if (!m) throw new Error(`unknown model size "${name}"; choose one of: ${Object.keys(MODEL_SIZES).join(', ')}`);
  return structuredClone(m);
}
