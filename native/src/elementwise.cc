#include <algorithm>

#include "kernels.h"
#include "threadpool.h"
#include "vecmath.h"

namespace dn {
namespace {

constexpr int64_t kChunk = 16384;  // elements per task: ~10 us of work

// Applies f to full vectors and to the zero-padded tail vector.
template <typename F>
void for_vectors(int64_t b, int64_t e, F&& f) {
  int64_t i = b;
  for (; i + kVL <= e; i += kVL) f(i, kVL);
  if (i < e) f(i, int(e - i));
}

inline vf gelu_v(vf x) { return 0.5f * x * (1.0f + verf(x * 0.70710678118654752f)); }

inline vf gelu_grad_v(vf dy, vf x) {
  const vf cdf = 0.5f * (1.0f + verf(x * 0.70710678118654752f));
  const vf pdf = vexp(-0.5f * x * x) * 0.39894228040143268f;
  return dy * (cdf + x * pdf);
}

}  // namespace

void gelu(const float* x, float* y, int64_t n) {
  parallel_for(pool_size(), n, kChunk, [&](int64_t b, int64_t e) {
    for_vectors(b, e, [&](int64_t i, int len) {
      if (len == kVL) vstoreu(y + i, gelu_v(vloadu(x + i)));
      else vstore_part(y + i, gelu_v(vload_part(x + i, len)), len);
    });
  });
}

void gelu_grad(const float* dy, const float* x, float* dx, int64_t n) {
  parallel_for(pool_size(), n, kChunk, [&](int64_t b, int64_t e) {
    for_vectors(b, e, [&](int64_t i, int len) {
      if (len == kVL) vstoreu(dx + i, gelu_grad_v(vloadu(dy + i), vloadu(x + i)));
      else vstore_part(dx + i, gelu_grad_v(vload_part(dy + i, len), vload_part(x + i, len)), len);
    });
  });
}

void adamw(const float* p, const float* g, const float* m, const float* v, float* pOut, float* mOut, float* vOut,
           int64_t n, const AdamWParams& a) {
  const float decay = 1.0f - a.lr * a.weightDecay, step = a.lr / a.bc1, invBc2 = 1.0f / a.bc2Sqrt;
  const float b1 = a.beta1, b2 = a.beta2, c1 = 1.0f - a.beta1, c2 = 1.0f - a.beta2, eps = a.eps;
  parallel_for(pool_size(), n, kChunk, [&](int64_t b, int64_t e) {
    for_vectors(b, e, [&](int64_t i, int len) {
      const bool full = len == kVL;
      const vf pv = full ? vloadu(p + i) : vload_part(p + i, len);
      const vf gv = full ? vloadu(g + i) : vload_part(g + i, len);
      const vf mv = (full ? vloadu(m + i) : vload_part(m + i, len)) * b1 + gv * c1;
      const vf vv = (full ? vloadu(v + i) : vload_part(v + i, len)) * b2 + gv * gv * c2;
      vf sq;
      for (int l = 0; l < kVL; l++) sq[l] = __builtin_sqrtf(vv[l]);  // vectorised by the compiler (vsqrtps)
      const vf pn = pv * decay - step * mv / (sq * invBc2 + eps);
      if (full) {
        vstoreu(pOut + i, pn);
        vstoreu(mOut + i, mv);
        vstoreu(vOut + i, vv);
      } else {
        vstore_part(pOut + i, pn, len);
        vstore_part(mOut + i, mv, len);
        vstore_part(vOut + i, vv, len);
      }
    });
  });
}

}  // namespace dn
