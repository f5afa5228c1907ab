import * as tf from '@tensorflow/tfjs';
import { Random } from '../util/Random';

/** Luma weights (ITU-R 601, as PIL's convert('L'), which DINO's PIL pipeline uses). */
export const GRAY_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];

/** Per-image factors; identity (1, 1, 1, 0) for images the jitter is not applied to. */
export interface ColorJitterParams {
  brightness: Float32Array;
  contrast: Float32Array;
  saturation: Float32Array;
  hue: Float32Array;
}

export interface ColorJitterOptions {
  brightness?: number;
  contrast?: number;
  saturation?: number;
  hue?: number;
  /** Probability of applying the jitter to an image (DINO wraps ColorJitter in RandomApply(p=0.8)). */
  p?: number;
}

// YIQ basis (FCC NTSC). Y is the luma above, so a rotation in the I/Q plane keeps luma and shifts hue.
const RGB2YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
];
const YIQ2RGB = invert3(RGB2YIQ);

function invert3(m: number[][]): number[][] {
  const [a, b, c] = m[0]!;
  const [d, e, f] = m[1]!;
  const [g, h, i] = m[2]!;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a! * A + b! * B + c! * C;
  return [
    [A / det, -(b! * i! - c! * h!) / det, (b! * f! - c! * e!) / det],
    [B / det, (a! * i! - c! * g!) / det, -(a! * f! - c! * d!) / det],
    [C / det, -(a! * h! - b! * g!) / det, (a! * e! - b! * d!) / det],
  ];
}

/** Product of two row-major 3x3 matrices. */
function matMul3(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out = new Array<number>(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += a[r * 3 + k]! * b[k * 3 + c]!;
  return out;
}

/** The luma weights as a [3,1] matrix. */
function lumaColumn(): tf.Tensor2D {
  return tf.tensor2d([...GRAY_WEIGHTS], [3, 1]);
}

/**
 * Row-vector matrix M (rgb' = rgb M) that shifts hue by `hue` turns. Positive hue goes red -> yellow -> green,
 * the direction of torchvision's HSV shift; in YIQ that is a clockwise rotation of (I, Q).
 */
export function hueMatrix(hue: number): number[] {
  if (hue === 0) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const phi = -2 * Math.PI * hue;
  const cs = Math.cos(phi);
  const sn = Math.sin(phi);
  const rot = [
    [1, 0, 0],
    [0, cs, -sn],
    [0, sn, cs],
  ];
  // Column form A = YIQ2RGB * rot * RGB2YIQ; the row-vector matrix is its transpose.
  const out = new Array<number>(9).fill(0);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let k = 0; k < 3; k++) for (let l = 0; l < 3; l++) s += YIQ2RGB[r]![k]! * rot[k]![l]! * RGB2YIQ[l]![c]!;
      out[c * 3 + r] = s;
    }
  }
  return out;
}

/**
 * torchvision.transforms.ColorJitter (wrapped in RandomApply(p)) for a batch [B,H,W,3] in [0,1], with a
 * factor per image. Brightness, contrast and saturation are torchvision's float ops exactly (blend with
 * black / the image's mean luma / the per-pixel luma, clamped to [0,1] after each).
 *
 * Simplifications, for one op sequence over the whole batch:
 * - fixed order brightness, contrast, saturation, hue (torchvision draws a random order per image);
 * - hue is a rotation of the chroma plane in YIQ (one batched [B,HW,3]x[B,3,3] matmul) instead of an HSV
 *   round trip: the same direction and amount of hue change, but it preserves luma rather than HSV value and
 *   saturated colours can leave the RGB cube (clamped).
 */
export class ColorJitter {
  readonly brightness: [number, number];
  readonly contrast: [number, number];
  readonly saturation: [number, number];
  readonly hue: [number, number];
  readonly p: number;

  constructor(opts: ColorJitterOptions = {}) {
    const { brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1, p = 1 } = opts;
    // torchvision: factor ranges [max(0, 1 - v), 1 + v], hue [-v, v] with v <= 0.5.
    if (hue < 0 || hue > 0.5) throw new Error(`ColorJitter: hue must be in [0, 0.5], got ${hue}`);
    this.brightness = [Math.max(0, 1 - brightness), 1 + brightness];
    this.contrast = [Math.max(0, 1 - contrast), 1 + contrast];
    this.saturation = [Math.max(0, 1 - saturation), 1 + saturation];
    this.hue = [-hue, hue];
    this.p = p;
  }

  /** Identity parameters for n images. */
  static identity(n: number): ColorJitterParams {
    return {
      brightness: new Float32Array(n).fill(1),
      contrast: new Float32Array(n).fill(1),
      saturation: new Float32Array(n).fill(1),
      hue: new Float32Array(n),
    };
  }

  /** Draws, per image: the apply coin, then (if applied) brightness, contrast, saturation, hue. */
  sample(n: number, rng: Random): ColorJitterParams {
    const out = ColorJitter.identity(n);
    for (let i = 0; i < n; i++) {
      if (!rng.bernoulli(this.p)) continue;
      out.brightness[i] = rng.uniform(this.brightness[0], this.brightness[1]);
      out.contrast[i] = rng.uniform(this.contrast[0], this.contrast[1]);
      out.saturation[i] = rng.uniform(this.saturation[0], this.saturation[1]);
      out.hue[i] = rng.uniform(this.hue[0], this.hue[1]);
    }
    return out;
  }

  /**
   * `after`: optional per-image 3x3 row-vector colour matrices [B*9] applied right after the hue rotation in
   * the same batched matmul (DataAugmentationDINO passes RandomGrayscale.matrices: since the YIQ rotation
   * keeps luma, gray(hue(x)) == gray(x) and folding saves a matmul per view).
   */
  apply(x: tf.Tensor4D, params: ColorJitterParams, after?: Float32Array): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    if (c !== 3) throw new Error(`ColorJitter: expected 3 channels, got ${c}`);
    for (const a of [params.brightness, params.contrast, params.saturation, params.hue]) {
      if (a.length !== b) throw new Error(`ColorJitter: ${a.length} parameters for a batch of ${b}`);
    }
    if (after && after.length !== b * 9) throw new Error(`ColorJitter: ${after.length / 9} colour matrices for a batch of ${b}`);
    const isId = (a: Float32Array, v: number) => a.every((f) => f === v);
    const perImage = (a: Float32Array) => tf.tensor4d(a, [b, 1, 1, 1]);
    return tf.tidy(() => {
      let y: tf.Tensor4D = x;
      if (!isId(params.brightness, 1)) {
        y = tf.clipByValue(tf.mul(y, perImage(params.brightness)), 0, 1) as tf.Tensor4D;
      }
      if (!isId(params.contrast, 1)) {
        // Blend with the mean luma of the (brightness-adjusted) image: mean of luma == luma of the mean colour.
        const meanLuma = tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, lumaColumn());
        const cf = perImage(params.contrast);
        const offset = tf.mul(tf.sub(1, cf), meanLuma.reshape([b, 1, 1, 1]));
        y = tf.clipByValue(tf.add(tf.mul(y, cf), offset), 0, 1) as tf.Tensor4D;
      }
      if (!isId(params.saturation, 1)) {
        // Per-pixel luma through a 2-D [N,3]x[3,1] matmul: the fast (XNNPACK) path on wasm.
        const luma = tf.matMul(y.reshape([b * h * w, 3]), lumaColumn()).reshape([b, h, w, 1]);
        const sf = perImage(params.saturation);
        y = tf.clipByValue(tf.add(tf.mul(y, sf), tf.mul(luma, tf.sub(1, sf))), 0, 1) as tf.Tensor4D;
      }
      if (!isId(params.hue, 0) || after) {
        const m = new Float32Array(b * 9);
        for (let i = 0; i < b; i++) {
          const hm = hueMatrix(params.hue[i]!);
          m.set(after ? matMul3(hm, after.subarray(i * 9, i * 9 + 9)) : hm, i * 9);
        }
        const rotated = tf.matMul(y.reshape([b, h * w, 3]), tf.tensor3d(m, [b, 3, 3]));
        y = tf.clipByValue(rotated, 0, 1).reshape([b, h, w, 3]);
      }
      return y === x ? tf.clone(x) : y;
    });
  }
}
