// DINO ViT kernels computed in place on caller-provided float buffers (the wasm heap).
#pragma once
#include <cstdint>

namespace dn {

// y = 0.5 x (1 + erf(x / sqrt 2))
void gelu(const float* x, float* y, int64_t n);
// dx = dy (Phi(x) + x phi(x))
void gelu_grad(const float* dy, const float* x, float* dx, int64_t n);

// Row-wise over x[N, D]: y = (x - mean) rstd gamma + beta; mean[N], rstd[N] (biased variance).
void layer_norm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                float* rstd, int64_t N, int D, float eps);
// dx[N, D], dgamma[D], dbeta[D] from dy, x and the forward's mean/rstd.
void layer_norm_grad(const float* dy, const float* x, const float* gamma, const float* mean,
                     const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t N, int D);

// qkv[B*T, 3D] (per token: q heads, k heads, v heads; D = H*hd) ->
// out[B*T, D] (heads concatenated), probs[B, H, T, T] = softmax(q k^T scale).
void attention(const float* qkv, float* out, float* probs, int B, int T, int H, int hd, float scale);
// dqkv[B*T, 3D] from dout[B*T, D], qkv and probs.
void attention_grad(const float* dout, const float* qkv, const float* probs, float* dqkv, int B, int T,
                    int H, int hd, float scale);

}  // namespace dn

namespace dn {
// y[o, i] = scale * sum_r x[o, r, i] for x viewed as [outer, reduce, inner] (any contiguous set of axes).
void reduce_sum(const float* x, float* y, int64_t outer, int64_t reduce, int64_t inner, float scale);
}  // namespace dn

namespace dn {
struct AdamWParams {
  float lr, beta1, beta2, eps, weightDecay;
  float bc1, bc2Sqrt;  // 1 - beta1^t, sqrt(1 - beta2^t)
  float clip = 0.0f;   // > 0: g scaled by min(clip / (||g|| + 1e-6), 1) first (official clip_gradients)
  const float* teacher = nullptr;  // set: teacherOut = momentum * teacher + (1 - momentum) * p' (the EMA)
  float* teacherOut = nullptr;
  float momentum = 0.0f;
};
// torch.optim.AdamW step on flat arrays: p' = p (1 - lr wd) - lr/bc1 * m' / (sqrt(v')/bc2Sqrt + eps), with the
// gradient's clipping before it and the teacher's EMA after it in the same pass when asked.
void adamw(const float* p, const float* g, const float* m, const float* v, float* pOut, float* mOut, float* vOut,
           int64_t n, const AdamWParams& a);
}  // namespace dn
