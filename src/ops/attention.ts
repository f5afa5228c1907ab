import * as tf from '@tensorflow/tfjs';
import { hasFusedKernel, runKernel } from './kernels';
import { matMul } from './matMul';
import { customOp } from './customOp';

/** Shape of one multi-head self-attention call: B sequences of T tokens, H heads of width hd (D = H*hd). */
export interface AttentionShape {
  batch: number;
  tokens: number;
  heads: number;
  scale: number;
}

function attrs(s: AttentionShape): Record<string, number> {
  return { batch: s.batch, tokens: s.tokens, heads: s.heads, scale: s.scale };
}

/**
 * Multi-head self-attention from the packed qkv Linear output [B*T, 3D] (per token: q heads, k heads, v heads,
 * the layout of the official reshape(B, T, 3, H, hd)). Returns out [B*T, D] (heads concatenated per token, ready
 * for the proj Linear) and probs [B, H, T, T] = softmax(q k^T * scale).
 */
export function attentionForward(qkv: tf.Tensor2D, s: AttentionShape): { out: tf.Tensor2D; probs: tf.Tensor4D } {
  if (hasFusedKernel('DinoAttention')) {
    const [out, probs] = runKernel('DinoAttention', { qkv }, attrs(s));
    return { out: out as tf.Tensor2D, probs: probs as tf.Tensor4D };
  }
  const { batch: B, tokens: T, heads: H } = s;
  const D = qkv.shape[1] / 3;
  const hd = D / H;
  return tf.tidy(() => {
    const [q, k, v] = splitQkv(qkv, B, T, H, hd);
    const probs = tf.softmax(tf.mul(matMul(q, k, false, true), s.scale)) as tf.Tensor3D;
    const out = fromHeads(matMul(probs, v!), B, T, H, hd);
    return { out, probs: tf.reshape(probs, [B, H, T, T]) as tf.Tensor4D };
  });
}

/** [B*T, D] (heads concatenated per token) -> [B*H, T, hd]. */
function toHeads(x: tf.Tensor2D, B: number, T: number, H: number, hd: number): tf.Tensor3D {
  return tf.reshape(tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]) as tf.Tensor3D;
}

/** [B*H, T, hd] -> [B*T, D]. */
function fromHeads(x: tf.Tensor3D, B: number, T: number, H: number, hd: number): tf.Tensor2D {
  return tf.reshape(tf.transpose(tf.reshape(x, [B, H, T, hd]), [0, 2, 1, 3]), [B * T, H * hd]) as tf.Tensor2D;
}

/**
 * [B*T, 3D] -> q, k, v each [B*H, T, hd]: a split on the last axis and 4-D transposes (a 5-D transpose of the
 * packed tensor measured ~300x slower on the stock wasm backend).
 */
function splitQkv(qkv: tf.Tensor2D, B: number, T: number, H: number, hd: number): tf.Tensor3D[] {
  return tf.split(qkv, 3, 1).map((t) => toHeads(t as tf.Tensor2D, B, T, H, hd));
}

/** Gradient of attentionForward's out with respect to qkv, given dout [B*T, D] and the saved probs. */
export function attentionBackward(dout: tf.Tensor2D, qkv: tf.Tensor2D, probs: tf.Tensor4D, s: AttentionShape): tf.Tensor2D {
  if (hasFusedKernel('DinoAttentionGrad')) {
    return runKernel('DinoAttentionGrad', { dout, qkv, probs }, attrs(s))[0] as tf.Tensor2D;
  }
  const { batch: B, tokens: T, heads: H } = s;
  const D = qkv.shape[1] / 3;
  const hd = D / H;
  return tf.tidy(() => {
    const [q, k, v] = splitQkv(qkv, B, T, H, hd);
    const p = tf.reshape(probs, [B * H, T, T]) as tf.Tensor3D;
    const dO = toHeads(dout, B, T, H, hd);
    const dv = matMul(p, dO, true, false);
    const dp = matMul(dO, v!, false, true);
    // softmax backward: ds = p * (dp - sum(dp * p, last))
    const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)));
    const dq = tf.mul(matMul(ds, k!), s.scale);
    const dk = tf.mul(matMul(ds, q!, true, false), s.scale);
    return tf.concat([dq, dk, dv].map((g) => fromHeads(g as tf.Tensor3D, B, T, H, hd)), 1) as tf.Tensor2D;
  });
}

const attentionOp = (s: AttentionShape) =>
  customOp<[tf.Tensor2D]>((qkv, save) => {
    const { out, probs } = attentionForward(qkv, s);
    save([qkv, probs]);
    return {
      value: out,
      gradFunc: (dy, saved) =>
        attentionBackward(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor4D, s),
    };
  });

/** Differentiable multi-head self-attention (hand-written backward; probs are saved, not recomputed). */
export function attention(qkv: tf.Tensor2D, s: AttentionShape): tf.Tensor2D {
  return attentionOp(s)(qkv) as tf.Tensor2D;
}
