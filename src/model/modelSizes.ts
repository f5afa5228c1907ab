import { MODEL_SIZE_NAMES, type ModelSizeName } from '../types/ModelNames';

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
   * The options below come with pretrained weights (DINOv2); absent, the ViT is DINO's, and checkpoints written
   * before they existed load unchanged.
   * LayerScale (DINOv2): each residual branch scaled per channel by a learned vector, initialised to this value.
   */
  layerScale?: number;
  /** Register tokens (DINOv2 "-reg" models): learned tokens between the CLS and the patches, without position. */
  numRegisterTokens?: number;
  /**
   * How the position embeddings are resized to another grid (all bicubic, PyTorch's F.interpolate):
   * 'offset': scale factor (g + 0.1) / g0 (official DINO and DINOv2 code; the default);
   * 'size': output size g (Hugging Face Dinov2Model);
   * 'size-antialias': output size g with antialiasing (Hugging Face Dinov2WithRegistersModel).
   */
  posEmbedInterpolation?: PosEmbedInterpolation;
  /**
   * 'learned' (DINO's: trained from a small random start) or 'sincos' (MoCo v3, MAE: a fixed 2-D sine-cosine table,
   * not trained, which gives attention the patches' layout from the first step). Absent: 'learned'.
   */
  posEmbed?: PosEmbedKind;
  /**
   * Channels of a convolutional stem (ConvStem: one 3x3 stride-2 convolution per entry, then a 1x1 to embedDim) in
   * place of the patchify matmul; 2^length must equal patchSize. Absent: the official patch embedding (and
   * checkpoints written before the option existed, which have none, load as that).
   */
  stem?: number[];
}

export const POS_EMBED_INTERPOLATIONS = ['offset', 'size', 'size-antialias'] as const;
export type PosEmbedInterpolation = (typeof POS_EMBED_INTERPOLATIONS)[number];
export const POS_EMBED_KINDS = ['learned', 'sincos'] as const;
export type PosEmbedKind = (typeof POS_EMBED_KINDS)[number];

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
 * - small: the live default on 2 cores (about 300 ms a training step on wasm at batch 16).
 * - tiny: `npm run bench:train`'s model, the one PyTorch's step time is compared with (README, Measured speed).
 * - cifar: the evaluation model for the shared CIFAR-10 images (32 px, patch 4; docs/experiments.md).
 * - vits16, vits8: the official DINO ViT-S/16 and ViT-S/8 (dino_deitsmall16/8_pretrain.pth), 224 px global and
 *   96 px local crops, DINO's head (65536 prototypes; the `stream` recipes cap it).
 * - vits14: DINOv2 ViT-S/14 (facebook/dinov2-small): position grid of 518 px, LayerScale; 224 px global crops and
 *   DINOv2's 98 px local crops (96 is not a multiple of 14).
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
  vits16: size(
    { patchSize: 16, embedDim: 384, depth: 12, numHeads: 6, imgSize: 224 },
    { hiddenDim: 2048, bottleneckDim: 256, outDim: 65536 },
    { globalSize: 224, localSize: 96, nLocal: 8 },
  ),
  vits14: size(
    { patchSize: 14, embedDim: 384, depth: 12, numHeads: 6, imgSize: 518, layerScale: 1e-5 },
    { hiddenDim: 2048, bottleneckDim: 256, outDim: 65536 },
    { globalSize: 224, localSize: 98, nLocal: 8 },
  ),
  vits8: size(
    { patchSize: 8, embedDim: 384, depth: 12, numHeads: 6, imgSize: 224 },
    { hiddenDim: 2048, bottleneckDim: 256, outDim: 65536 },
    { globalSize: 224, localSize: 96, nLocal: 8 },
  ),
} as const satisfies Record<string, ModelConfig>;

export const MODEL_SIZES = {
  ...BASE_SIZES,
  'small-conv': withConvStem(BASE_SIZES.small),
  'cifar-conv': withConvStem(BASE_SIZES.cifar),
} as const satisfies Record<ModelSizeName, ModelConfig>;

export { MODEL_SIZE_NAMES, type ModelSizeName };

export function modelSize(name: string): ModelConfig {
  const m = (MODEL_SIZES as Record<string, ModelConfig>)[name];
  if (!m) throw new Error(`unknown model size "${name}"; choose one of: ${Object.keys(MODEL_SIZES).join(', ')}`);
  return structuredClone(m);
}
