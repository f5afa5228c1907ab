import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';

/** A crop in source pixels, as torchvision's get_params returns it: rows [top, top+height), cols [left, left+width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
  /** True when all 10 attempts failed and torchvision's central-crop fallback was used. */
  fallback: boolean;
}

export interface RandomResizedCropOptions {
  /** Output side in pixels (square crops, as in DINO). */
  size: number;
  /** Fraction of the source area, [min, max]. torchvision default (0.08, 1). */
  scale?: [number, number];
  /** Width/height range, [min, max]. torchvision default (3/4, 4/3). */
  ratio?: [number, number];
}

/** Python's round(): half to even. torchvision rounds w/h with it, so boxes match it bit for bit. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision.transforms.RandomResizedCrop for a whole batch on tensors.
 *
 * Boxes are sampled in JS exactly like torchvision's `get_params` (10 attempts of area / log-ratio sampling,
 * then the central-crop fallback), then all crops of a batch are cut and resized by ONE
 * `tf.image.cropAndResize` call. Resampling is bilinear: tfjs has no bicubic (DINO uses bicubic) and no
 * antialiasing, so strong downscales alias a little more than PIL would.
 *
 * Sample positions follow torch's `interpolate(align_corners=False)` (half-pixel centres): output pixel j of a
 * crop of width w starting at `left` reads source x = left + (j + 0.5) * w / size - 0.5. That grid is linear in
 * j, so it maps exactly onto cropAndResize's box corners. When upsampling, the outermost samples fall up to
 * half a pixel outside the crop; they read the neighbouring source pixel (torch would repeat the crop's edge)
 * and, at the image border, a 1-pixel edge padding (`pad`) reproduces torch's clamping instead of
 * cropAndResize's zero extrapolation.
 *
 * A horizontal flip folds into the box for free: cropAndResize accepts x1 > x2 and then samples right to left,
 * giving the exact mirror of the unflipped crop (the half-pixel grid is symmetric about the crop centre).
 */
export class RandomResizedCrop {
  readonly size: number;
  readonly scale: [number, number];
  readonly ratio: [number, number];

  constructor(opts: RandomResizedCropOptions) {
    const { size, scale = [0.08, 1], ratio = [3 / 4, 4 / 3] } = opts;
    if (!Number.isInteger(size) || size < 1) throw new Error(`RandomResizedCrop: size must be a positive integer, got ${size}`);
    if (!(scale[0] > 0 && scale[0] <= scale[1])) throw new Error(`RandomResizedCrop: bad scale [${scale}]`);
    if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) throw new Error(`RandomResizedCrop: bad ratio [${ratio}]`);
    this.size = size;
    this.scale = [scale[0], scale[1]];
    this.ratio = [ratio[0], ratio[1]];
  }

  /** torchvision RandomResizedCrop.get_params, draw for draw (uniforms from `rng` instead of torch's RNG). */
  static getParams(height: number, width: number, scale: [number, number], ratio: [number, number], rng: Random): CropBox {
    const area = height * width;
    const logLo = Math.log(ratio[0]);
    const logHi = Math.log(ratio[1]);
    for (let attempt = 0; attempt < 10; attempt++) {
      const targetArea = area * rng.uniform(scale[0], scale[1]);
      const aspect = Math.exp(rng.uniform(logLo, logHi));
      const w = roundHalfEven(Math.sqrt(targetArea * aspect));
      const h = roundHalfEven(Math.sqrt(targetArea / aspect));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        const top = rng.int(height - h + 1);
        const left = rng.int(width - w + 1);
        return { top, left, height: h, width: w, fallback: false };
      }
    }
    return RandomResizedCrop.fallbackBox(height, width, ratio);
  }

  /** torchvision's fallback: the largest central crop whose aspect ratio is clamped into `ratio`. */
  static fallbackBox(height: number, width: number, ratio: [number, number]): CropBox {
    const inRatio = width / height;
    let w: number;
    let h: number;
    if (inRatio < ratio[0]) {
      w = width;
      h = roundHalfEven(w / ratio[0]);
    } else if (inRatio > ratio[1]) {
      h = height;
      w = roundHalfEven(h * ratio[1]);
    } else {
      w = width;
      h = height;
    }
    return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w, fallback: true };
  }

  /** One box per image of a batch of `n` images of `height` x `width`. */
  sample(n: number, height: number, width: number, rng: Random): CropBox[] {
    const out: CropBox[] = [];
    for (let i = 0; i < n; i++) out.push(RandomResizedCrop.getParams(height, width, this.scale, this.ratio, rng));
    return out;
  }

  /** 1-pixel edge padding of the source batch; do it once and reuse it for every view of the batch. */
  static pad(images: tf.Tensor4D): tf.Tensor4D {
    // 'symmetric' with a 1-pixel pad repeats the edge pixel: exactly edge clamping.
    return tf.mirrorPad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], 'symmetric');
  }

  /**
   * cropAndResize boxes [y1, x1, y2, x2] (normalised to the PADDED image) for `boxes` of a height x width
   * source; `flip[i]` swaps x1/x2 to mirror crop i.
   */
  toCropAndResizeBoxes(boxes: CropBox[], height: number, width: number, flip?: ArrayLike<boolean | number>): Float32Array {
    const s = this.size;
    const out = new Float32Array(boxes.length * 4);
    // Padded image has height+2 rows, so normalised 1 == row height+1; +1 shifts into padded coordinates.
    const ny = height + 1;
    const nx = width + 1;
    boxes.forEach((b, i) => {
      const y1 = b.top + (0.5 * b.height) / s - 0.5 + 1;
      const y2 = b.top + b.height - (0.5 * b.height) / s - 0.5 + 1;
      const x1 = b.left + (0.5 * b.width) / s - 0.5 + 1;
      const x2 = b.left + b.width - (0.5 * b.width) / s - 0.5 + 1;
      const f = flip !== undefined && !!flip[i];
      out.set([y1 / ny, (f ? x2 : x1) / nx, y2 / ny, (f ? x1 : x2) / nx], i * 4);
    });
    return out;
  }

  /**
   * Crops from an already padded batch (`pad`). `boxes[i]` is cut from image `boxInd[i]` (default i), so
   * several views can be cut in one call. Returns [boxes.length, size, size, C].
   */
  cropPadded(
    padded: tf.Tensor4D,
    boxes: CropBox[],
    flip?: ArrayLike<boolean | number>,
    boxInd?: ArrayLike<number>,
  ): tf.Tensor4D {
    const [, ph, pw] = padded.shape;
    const height = ph - 2;
    const width = pw - 2;
    for (const b of boxes) {
      if (b.top < 0 || b.left < 0 || b.height < 1 || b.width < 1 || b.top + b.height > height || b.left + b.width > width) {
        throw new Error(`RandomResizedCrop: box ${JSON.stringify(b)} is outside the ${height}x${width} image`);
      }
    }
    const coords = this.toCropAndResizeBoxes(boxes, height, width, flip);
    return tf.tidy(() => {
      const ind = boxInd ? Int32Array.from(boxInd) : Int32Array.from(boxes, (_, i) => i);
      return tf.image.cropAndResize(
        padded,
        tf.tensor2d(coords, [boxes.length, 4]),
        tf.tensor1d(ind, 'int32'),
        [this.size, this.size],
        'bilinear',
      );
    });
  }

  /** Crop + resize `images` [B,H,W,C] with one box per image (see `sample`). */
  apply(images: tf.Tensor4D, boxes: CropBox[], flip?: ArrayLike<boolean | number>): tf.Tensor4D {
    if (boxes.length !== images.shape[0]) {
      throw new Error(`RandomResizedCrop: ${boxes.length} boxes for a batch of ${images.shape[0]}`);
    }
    return tf.tidy(() => this.cropPadded(RandomResizedCrop.pad(images), boxes, flip));
  }
}
