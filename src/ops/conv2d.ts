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
 * im2col: x [B, H, W, C] -> columns [B * Ho * Wo, k * k * C], one row per output position (row-major), its
 * receptive field in (kernel row, kernel column, channel) order: the layout of a PyTorch Conv2d weight permuted to
 * [kh, kw, Cin, Cout] and flattened, as PatchEmbed's.
 */
export function im2col(x: tf.Tensor4D, g: ConvGeometry): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const Ho = convOutSize(H, g);
    const Wo = convOutSize(W, g);
    const { kernel: k, stride: s, pad: p } = g;
    const padded = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) : x;
    const pieces: tf.Tensor4D[] = [];
    for (let di = 0; di < k; di++) {
      for (let dj = 0; dj < k; dj++) {
        pieces.push(tf.stridedSlice(padded, [0, di, dj, 0], [B, di + s * (Ho - 1) + 1, dj + s * (Wo - 1) + 1, C], [1, s, s, 1]) as tf.Tensor4D);
      }
    }
    const cols = pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 3);
    return tf.reshape(cols, [B * Ho * Wo, k * k * C]) as tf.Tensor2D;
  });
}

/**
 * col2im, the adjoint of im2col: columns [B * Ho * Wo, k * k * C] -> [B, H, W, C], each input pixel receiving the
 * sum of the column entries it was copied to. Kernel offset d = s * q + r lands on padded row s * (i + q) + r, so each
 * offset's block is padded into a [B, Ho + Q, s, Wo + Q, s * C] grid (Q = ceil(k / s)) whose reshape interleaves
 * the strides; the padding border is cut off at the end.
 */
export function col2im(cols: tf.Tensor2D, xShape: [number, number, number, number], g: ConvGeometry): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = xShape;
    const Ho = convOutSize(H, g);
    const Wo = convOutSize(W, g);
    const { kernel: k, stride: s, pad: p } = g;
    const Q = Math.ceil(k / s);
    const blocks = tf.reshape(cols, [B, Ho, Wo, k * k, C]);
    let acc: tf.Tensor | null = null;
    for (let di = 0; di < k; di++) {
      for (let dj = 0; dj < k; dj++) {
        const piece = tf.reshape(tf.slice(blocks, [0, 0, 0, di * k + dj, 0], [B, Ho, Wo, 1, C]), [B, Ho, 1, Wo, C]);
        const [qi, ri, qj, rj] = [Math.floor(di / s), di % s, Math.floor(dj / s), dj % s];
        const placed = tf.pad(piece, [[0, 0], [qi, Q - qi], [ri, s - 1 - ri], [qj, Q - qj], [rj * C, (s - 1 - rj) * C]]);
        acc = acc ? tf.add(acc, placed) : placed;
      }
    }
    const grid = tf.reshape(acc!, [B, s * (Ho + Q), s * (Wo + Q), C]);
    return tf.slice(grid, [0, p, p, 0], [B, H, W, C]) as tf.Tensor4D;
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
