#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"
#include "vec.h"

namespace dn {

void layer_norm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                float* rstd, int64_t N, int D, float eps) {
  const int64_t rowsPerTask = std::max<int64_t>(1, 16384 / std::max(D, 1));
  parallel_for(pool_size(), N, rowsPerTask, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      vf acc = vzero();
      int j = 0;
      for (; j + kVL <= D; j += kVL) acc += vloadu(xr + j);
      float sum = vsum(acc);
      for (; j < D; j++) sum += xr[j];
      const float m = sum / D;
      const vf vm = vset1(m);
      acc = vzero();
      for (j = 0; j + kVL <= D; j += kVL) {
        const vf d = vloadu(xr + j) - vm;
        acc += d * d;
      }
      float ss = vsum(acc);
      for (; j < D; j++) ss += (xr[j] - m) * (xr[j] - m);
      const float rs = 1.0f / std::sqrt(ss / D + eps);
      const vf vrs = vset1(rs);
      for (j = 0; j + kVL <= D; j += kVL)
        vstoreu(yr + j, (vloadu(xr + j) - vm) * vrs * vloadu(gamma + j) + vloadu(beta + j));
      for (; j < D; j++) yr[j] = (xr[j] - m) * rs * gamma[j] + beta[j];
      mean[r] = m;
      rstd[r] = rs;
    }
  });
}

namespace {

struct LnGradCtx {
  const float *dy, *x, *gamma, *mean, *rstd;
  float* dx;
  int64_t N;
  int D;
  float* partial;  // [nth][2][D]: per-thread dgamma, dbeta
  int64_t rowsPerTask;
  std::atomic<int64_t> next{0};  // dynamic row chunks: a descheduled thread does not hold the others back
};

void ln_grad_rows(const LnGradCtx& c, int64_t r0, int64_t r1, float* dg, float* db) {
  const int D = c.D;
  const float invD = 1.0f / D;
  for (int64_t r = r0; r < r1; r++) {
    const float* xr = c.x + r * D;
    const float* dyr = c.dy + r * D;
    float* dxr = c.dx + r * D;
    const float m = c.mean[r], rs = c.rstd[r];
    const vf vm = vset1(m), vrs = vset1(rs);
    vf s1 = vzero(), s2 = vzero();
    int j = 0;
    for (; j + kVL <= D; j += kVL) {
      const vf xh = (vloadu(xr + j) - vm) * vrs;
      const vf d = vloadu(dyr + j);
      const vf g = d * vloadu(c.gamma + j);
      s1 += g;
      s2 += g * xh;
      vstoreu(dg + j, vloadu(dg + j) + d * xh);
      vstoreu(db + j, vloadu(db + j) + d);
    }
    float t1 = vsum(s1), t2 = vsum(s2);
    for (int jj = j; jj < D; jj++) {
      const float xh = (xr[jj] - m) * rs, d = dyr[jj], g = d * c.gamma[jj];
      t1 += g;
      t2 += g * xh;
      dg[jj] += d * xh;
      db[jj] += d;
    }
    const float c1 = t1 * invD, c2 = t2 * invD;
    const vf vc1 = vset1(c1), vc2 = vset1(c2);
    for (j = 0; j + kVL <= D; j += kVL) {
      const vf xh = (vloadu(xr + j) - vm) * vrs;
      const vf g = vloadu(dyr + j) * vloadu(c.gamma + j);
      vstoreu(dxr + j, vrs * (g - vc1 - xh * vc2));
    }
    for (; j < D; j++) {
      const float xh = (xr[j] - m) * rs, g = dyr[j] * c.gamma[j];
      dxr[j] = rs * (g - c1 - xh * c2);
    }
  }
}

}  // namespace

void layer_norm_grad(const float* dy, const float* x, const float* gamma, const float* mean,
                     const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t N, int D) {
  const int64_t work = N * D;
  int nth = std::max<int64_t>(1, std::min<int64_t>(pool_size(), work / 32768));
  if (in_parallel_region()) nth = 1;
  std::vector<float> partial(size_t(nth) * 2 * D, 0.0f);
  LnGradCtx ctx;
  ctx.dy = dy;
  ctx.x = x;
  ctx.gamma = gamma;
  ctx.mean = mean;
  ctx.rstd = rstd;
  ctx.dx = dx;
  ctx.N = N;
  ctx.D = D;
  ctx.partial = partial.data();
  ctx.rowsPerTask = std::max<int64_t>(1, 8192 / std::max(D, 1));
  auto body = [](int tid, int, void* p) {
    LnGradCtx& c = *static_cast<LnGradCtx*>(p);
    float* dg = c.partial + size_t(tid) * 2 * c.D;
    for (;;) {
      const int64_t r0 = c.next.fetch_add(c.rowsPerTask, std::memory_order_relaxed);
      if (r0 >= c.N) break;
      ln_grad_rows(c, r0, std::min(c.N, r0 + c.rowsPerTask), dg, dg + c.D);
    }
  };
  parallel_run_any(nth, body, &ctx);  // rows are taken dynamically; partials of absent threads stay 0
  for (int j = 0; j < D; j++) {
    float g = 0.0f, b = 0.0f;
    for (int t = 0; t < nth; t++) {
      g += partial[size_t(t) * 2 * D + j];
      b += partial[size_t(t) * 2 * D + D + j];
    }
    dgamma[j] = g;
    dbeta[j] = b;
  }
}

}  // namespace dn
