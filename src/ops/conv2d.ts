import * as tf from '@tensorflow/tfjs';
import { matMul } from './matMul';
import { customOp } from './customOp';

/** A square convolution's geometry (PyTorch's kernel_size, stride, padding; zero padding). */
export interface ConvGeometry {
  kernel: number;
  stride: number;
  pad: number;
}

/** Output side of a convolution over an input side n. */
export function convOutSize(n: number, g: ConvGeometry): number {
  return Math.floor((n + 2 * g.pad - g.kernel) / g.stride) + 1;
}

/**
 * The 0/1 matrix [Ho * Wo * k * k, H * W] that copies each input position to the columns of the output positions
 * whose receptive field holds it (row (o, t): output position o, kernel offset t; a padding position is a row of
 * zeros). im2col and col2im are then one GEMM each, the fast path on every backend: the wasm backend's slices copy
 * their whole input, and its strided slices, gathers and scatters run element by element. Cached as plain arrays
 * per shape (a cached tensor would outlive every tidy).
 */
const selections = new Map<string, Float32Array>();
function selection(H: number, W: number, g: ConvGeometry): Float32Array {
  const key = `${H}x${W}:${g.kernel}/${g.stride}/${g.pad}`;
  let m = selections.get(key);
  if (m) return m;
  const Ho = convOutSize(H, g);
  const Wo = convOutSize(W, g);
  const { kernel: k, stride: s, pad: p } = g;
  m = new Float32Array(Ho * Wo * k * k * H * W);
  for (let i = 0; i < Ho; i++) {
    for (let j = 0; j < Wo; j++) {
      for (let di = 0; di < k; di++) {
        for (let dj = 0; dj < k; dj++) {
          const h = s * i + di - p;
          const w = s * j + dj - p;
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          const row = ((i * Wo + j) * k + di) * k + dj;
          m[row * H * W + h * W + w] = 1;
        }
      }
    }
  }
  selections.set(key, m);
  return m;
}

/**
 * im2col: x [B, H, W, C] -> columns [B * Ho * Wo, k * k * C], one row per output position (row-major), its
 * receptive field in (kernel row, kernel column, channel) order: the layout of a PyTorch Conv2d weight permuted to
 * [kh, kw, Cin, Cout] and flattened, as PatchEmbed's.
 */
export function im2col(x: tf.Tensor4D, g: ConvGeometry): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const Ho = convOutSize(H, g);
    const Wo = convOutSize(W, g);
    const kk = g.kernel * g.kernel;
    const rows = Ho * Wo * kk;
    if (C >= 8) {
      // one selection for every image of the batch: a batched GEMM with the selection broadcast, no transposes
      const sel = tf.tensor3d(selection(H, W, g), [1, rows, H * W]);
      return tf.reshape(matMul(sel, tf.reshape(x, [B, H * W, C])), [B * Ho * Wo, kk * C]) as tf.Tensor2D;
    }
    // few channels (pixels) make a thin GEMM per image: one wide GEMM over the batch instead, between transposes
    const sel = tf.tensor2d(selection(H, W, g), [rows, H * W]);
    const byPosition = tf.reshape(tf.transpose(tf.reshape(x, [B, H * W, C]), [1, 0, 2]), [H * W, B * C]);
    const cols = tf.reshape(matMul(sel, byPosition), [Ho * Wo, kk, B, C]);
    return tf.reshape(tf.transpose(cols, [2, 0, 1, 3]), [B * Ho * Wo, kk * C]) as tf.Tensor2D;
  });
}

/**
 * col2im, the adjoint of im2col: columns [B * Ho * Wo, k * k * C] -> [B, H, W, C], each input pixel receiving the
 * sum of the column entries it was copied to (the selection matrix transposed).
 */
export function col2im(cols: tf.Tensor2D, xShape: [number, number, number, number], g: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = xShape;
    const Ho = convOutSize(H, g);
    const Wo = convOutSize(W, g);
    const kk = g.kernel * g.kernel;
    const sel = tf.tensor3d(selection(H, W, g), [1, Ho * Wo * kk, H * W]);
    return tf.reshape(matMul(sel, tf.reshape(cols, [B, Ho * Wo * kk, C]), true, false), [B, H, W, C]) as tf.Tensor4D;
  });
}

/** Forward shared by both variants: columns (saved for dW) and the product, [B * Ho * Wo, Cout]. */
function forward(x: tf.Tensor4D, w: tf.Tensor2D, g: ConvGeometry): { cols: tf.Tensor2D; y: tf.Tensor2D } {
  const cols = im2col(x, g);
  return { cols, y: matMul(cols, w) };
}

/**
 * Convolution as im2col + one 2-D matmul, with a hand-written gradient: dW = cols^T dy, dx = col2im(dy W^T). The
 * wasm backend has no Conv2DBackpropFilter, and as plain matmuls both passes reach the fast (native) GEMM kernels.
 */
const convWithInputGrad = (g: ConvGeometry) =>
  customOp<[tf.Tensor4D, tf.Tensor2D]>((x, w, save) => {
    const { cols, y } = forward(x, w, g);
    save([cols, w]);
    const shape = x.shape as [number, number, number, number];
    return {
      value: y,
      gradFunc: (dy, saved) =>
        tf.tidy(() => {
          const [cs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
          return [col2im(matMul(dy as tf.Tensor2D, ws, false, true), shape, g), matMul(cs, dy, true, false)];
        }),
    };
  });

/** The same without dx, for a first layer on pixels (no gradient needed there: saves the col2im and a matmul). */
const convNoInputGrad = (x: tf.Tensor4D, g: ConvGeometry) =>
  customOp<[tf.Tensor2D]>((w, save) => {
    const { cols, y } = forward(x, w, g);
    save([cols]);
    return { value: y, gradFunc: (dy, saved) => tf.tidy(() => matMul(saved[0] as tf.Tensor2D, dy, true, false)) };
  });

/**
 * 2-D convolution without bias: x [B, H, W, Cin], weight [k * k * Cin, Cout] (see im2col for the order) ->
 * [B * Ho * Wo, Cout], rows in row-major output order (reshape to [B, Ho, Wo, Cout] for the next layer).
 */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor2D, g: ConvGeometry, opts: { inputGrad?: boolean } = {}): tf.Tensor2D {
  const [, H, W, C] = x.shape;
  if (w.shape[0] !== g.kernel * g.kernel * C) throw new Error(`conv2d: weight has ${w.shape[0]} rows, expected ${g.kernel}x${g.kernel}x${C}`);
  if (convOutSize(H, g) < 1 || convOutSize(W, g) < 1) throw new Error(`conv2d: input ${H}x${W} is smaller than the kernel ${g.kernel}`);
  if (opts.inputGrad === false) return convNoInputGrad(x, g)(w) as tf.Tensor2D;
  return convWithInputGrad(g)(x, w) as tf.Tensor2D;
}
