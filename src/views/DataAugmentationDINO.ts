import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';
import { ColorJitter, type ColorJitterParams } from './ColorJitter';
import { GaussianBlur } from './GaussianBlur';
import { Normalize } from './Normalize';
import { type CropBox, RandomResizedCrop } from './RandomResizedCrop';
import { RandomGrayscale } from './RandomGrayscale';
import { RandomHorizontalFlip } from './RandomHorizontalFlip';
import { Solarize } from './Solarize';

export interface DataAugmentationDINOOptions {
  /** Side of the 2 global crops (DINO: 224). */
  globalSize: number;
  /** Side of the local crops (DINO: 96). */
  localSize: number;
  /** Number of local crops (DINO: 8; 0 allowed). */
  nLocal: number;
  /** Area fraction of the global crops (DINO: [0.4, 1]). */
  globalScale?: [number, number];
  /** Area fraction of the local crops (DINO: [0.05, 0.4]). */
  localScale?: [number, number];
  /** Scale of the colour jitter's strengths (DINO: 1 = brightness .4, contrast .4, saturation .2, hue .1). */
  jitterStrength?: number;
  /** Probability of converting a view to grayscale (DINO: 0.2). */
  grayscaleP?: number;
  /** Aspect-ratio range of all crops (torchvision: [3/4, 4/3]). */
  ratio?: [number, number];
  /** Seed of the augmentation RNG; the same seed and inputs give identical views. Random when omitted. */
  seed?: number;
}

/** The transforms of one view (global 1, global 2 or a local crop). */
export interface ViewSpec {
  crop: RandomResizedCrop;
  blur: GaussianBlur;
  /** Only global 2 solarises. */
  solarize: Solarize | null;
}

/** Everything drawn for one view of a batch: enough to replay it (`applyParams`). */
export interface ViewParams {
  boxes: CropBox[];
  flip: Uint8Array;
  jitter: ColorJitterParams;
  gray: Uint8Array;
  sigma: Float32Array;
  solarize: Uint8Array | null;
}

/**
 * DINO's multi-crop augmentation (main_dino.py DataAugmentationDINO) for a whole batch on tensors.
 *
 *   global 1: crop(globalScale) flip jitter(p .8) gray(p .2) blur(p 1)               normalise
 *   global 2: crop(globalScale) flip jitter(p .8) gray(p .2) blur(p .1) solarize(p .2) normalise
 *   local  i: crop(localScale)  flip jitter(p .8) gray(p .2) blur(p .5)               normalise
 * Blur sigma is DINO's 0.1..2 px scaled by cropSize / 224 (DINO itself uses it unscaled on 224 and 96 px).
 * Each view is a handful of batch-wide ops with per-image parameters (see each transform for the exact
 * op and its approximations); inputs are padded once and shared by all crops.
 *
 * Randomness: one seeded `Random`. Per view, in order global 1, global 2, locals, it draws for all B images
 * the crop boxes, the flips, the jitter, the grayscale coins, the blur, then (global 2) the solarize coins.
 * `getState()`/`setState()` expose its position: store it in a checkpoint to resume with the same views.
 */
export class DataAugmentationDINO {
  readonly globalSize: number;
  readonly localSize: number;
  readonly nLocal: number;
  readonly flip = new RandomHorizontalFlip(0.5);
  readonly jitter: ColorJitter;
  readonly grayscale: RandomGrayscale;
  readonly normalize = new Normalize();
  /** Global 1, global 2, then the locals. */
  readonly views: readonly ViewSpec[];
  private readonly rng: Random;

  constructor(opts: DataAugmentationDINOOptions) {
    const { globalSize, localSize, nLocal, globalScale = [0.4, 1], localScale = [0.05, 0.4], ratio = [3 / 4, 4 / 3], seed } = opts;
    const { jitterStrength: s = 1, grayscaleP = 0.2 } = opts;
    if (!Number.isInteger(nLocal) || nLocal < 0) throw new Error(`DataAugmentationDINO: nLocal must be an integer >= 0, got ${nLocal}`);
    if (!(s >= 0 && s <= 2.5)) throw new Error(`DataAugmentationDINO: jitterStrength must be in [0, 2.5] (hue .1 x s stays within half a turn), got ${s}`);
    this.jitter = new ColorJitter({ brightness: 0.4 * s, contrast: 0.4 * s, saturation: 0.2 * s, hue: 0.1 * s, p: 0.8 });
    if (!(grayscaleP >= 0 && grayscaleP <= 1)) throw new Error(`DataAugmentationDINO: grayscaleP must be a probability in [0, 1], got ${grayscaleP}`);
    this.grayscale = new RandomGrayscale(grayscaleP);
    this.globalSize = globalSize;
    this.localSize = localSize;
    this.nLocal = nLocal;
    this.rng = new Random(seed);
    const globalCrop = new RandomResizedCrop({ size: globalSize, scale: globalScale, ratio });
    const localCrop = new RandomResizedCrop({ size: localSize, scale: localScale, ratio });
    const localView: ViewSpec = { crop: localCrop, blur: GaussianBlur.forCropSize(localSize, 0.5), solarize: null };
    this.views = [
      { crop: globalCrop, blur: GaussianBlur.forCropSize(globalSize, 1.0), solarize: null },
      { crop: globalCrop, blur: GaussianBlur.forCropSize(globalSize, 0.1), solarize: new Solarize(0.2, 0.5) },
      ...Array.from({ length: nLocal }, () => localView),
    ];
  }

  /** 2 + nLocal. */
  get nViews(): number {
    return this.views.length;
  }

  /** Position of the augmentation RNG, for checkpoints. */
  getState(): number {
    return this.rng.getState();
  }

  setState(state: number): void {
    this.rng.setState(state);
  }

  /** Draws the parameters of every view for a batch of `b` images of `height` x `width` (advances the RNG). */
  sample(b: number, height: number, width: number): ViewParams[] {
    const rng = this.rng;
    return this.views.map((v) => ({
      boxes: v.crop.sample(b, height, width, rng),
      flip: this.flip.sample(b, rng),
      jitter: this.jitter.sample(b, rng),
      gray: this.grayscale.sample(b, rng),
      sigma: v.blur.sample(b, rng),
      solarize: v.solarize ? v.solarize.sample(b, rng) : null,
    }));
  }

  /**
   * images: [B,H,W,3] float32 in [0,1]. Returns 2 + nLocal normalised batches, globals first,
   * each [B, size, size, 3]. The caller owns (and disposes) the returned tensors.
   */
  apply(images: tf.Tensor4D): tf.Tensor4D[] {
    const [b, h, w, c] = images.shape;
    if (c !== 3) throw new Error(`DataAugmentationDINO: expected [B,H,W,3] images, got shape [${images.shape}]`);
    return this.applyParams(images, this.sample(b, h, w));
  }

  /** Replays drawn parameters (from `sample`) on `images`; does not touch the RNG. */
  applyParams(images: tf.Tensor4D, params: ViewParams[]): tf.Tensor4D[] {
    if (params.length !== this.views.length) throw new Error(`DataAugmentationDINO: ${params.length} parameter sets for ${this.views.length} views`);
    return tf.tidy(() => {
      const padded = RandomResizedCrop.pad(images);
      return this.views.map((v, i) => {
        const p = params[i]!;
        // Each step returns a new tensor; tidy frees the intermediates of all views at the end.
        let x = v.crop.cropPadded(padded, p.boxes, p.flip);
        // Grayscale rides in the jitter's hue matmul (same result: the YIQ hue rotation keeps luma).
        x = this.jitter.apply(x, p.jitter, RandomGrayscale.matrices(p.gray));
        x = v.blur.apply(x, p.sigma);
        if (v.solarize && p.solarize) x = v.solarize.apply(x, p.solarize);
        // Every step keeps [0,1] mathematically; the clamp removes rounding drift before normalising.
        return this.normalize.apply(tf.clipByValue(x, 0, 1));
      });
    });
  }
}
