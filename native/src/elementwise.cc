#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

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

// Sum of squares in double (a clipping norm over up to millions of elements).
static double sum_squares(const float* g, int64_t n) {
  const int nth = int(std::max<int64_t>(1, std::min<int64_t>(pool_size(), n / kChunk)));
  std::vector<double> part(size_t(std::max(nth, 1)) * 8, 0.0);
  std::atomic<int> slot{0};
  parallel_for(nth, n, std::max<int64_t>(kChunk, (n + nth - 1) / nth), [&](int64_t b, int64_t e) {
    double s = 0.0;
    for (int64_t blk = b; blk < e; blk += 1024) {  // fp32 lanes over 1024 elements, then double
      const int64_t end = std::min(e, blk + 1024);
      vf acc = vzero();
      int64_t i = blk;
      for (; i + kVL <= end; i += kVL) {
        const vf x = vloadu(g + i);
        acc += x * x;
      }
      s += vsum(acc);
      for (; i < end; i++) s += double(g[i]) * g[i];
    }
    part[size_t(slot.fetch_add(1)) * 8] = s;
  });
  double total = 0.0;
  for (size_t k = 0; k < part.size(); k += 8) total += part[k];
  return total;
}

void adamw(const float* p, const float* g, const float* m, const float* v, float* pOut, float* mOut, float* vOut,
           int64_t n, const AdamWParams& a) {
  float coef = 1.0f;
  if (a.clip > 0.0f) {
    const float norm = float(std::sqrt(sum_squares(g, n)));
    const float c = a.clip / (norm + 1e-6f);
    if (c < 1.0f) coef = c;
  }
  const float decay = 1.0f - a.lr * a.weightDecay, step = a.lr / a.bc1, invBc2 = 1.0f / a.bc2Sqrt;
  const float b1 = a.beta1, b2 = a.beta2, c1 = 1.0f - a.beta1, c2 = 1.0f - a.beta2, eps = a.eps;
  const float mom = a.momentum, omm = 1.0f - a.momentum;
  parallel_for(pool_size(), n, kChunk, [&](int64_t b, int64_t e) {
    for_vectors(b, e, [&](int64_t i, int len) {
      const bool full = len == kVL;
      const vf pv = full ? vloadu(p + i) : vload_part(p + i, len);
      vf gv = full ? vloadu(g + i) : vload_part(g + i, len);
      if (coef != 1.0f) gv *= coef;
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
      if (a.teacher) {
        const vf tv = (full ? vloadu(a.teacher + i) : vload_part(a.teacher + i, len)) * mom + pn * omm;
        if (full) vstoreu(a.teacherOut + i, tv);
        else vstore_part(a.teacherOut + i, tv, len);
      }
    });
  });
}

}  // namespace dn
