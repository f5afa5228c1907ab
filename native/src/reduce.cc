// Sum / Mean over a contiguous block of axes without the transpose tfjs-backend-wasm does first.
#include <algorithm>
#include <vector>

#include "kernels.h"
#include "threadpool.h"
#include "vec.h"

namespace dn {
namespace {

constexpr int64_t kMinWork = 32768;  // elements per thread worth a wake-up

// Sum of n contiguous floats with 4 independent vector accumulators.
float sum_contiguous(const float* p, int64_t n) {
  vf a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
  int64_t i = 0;
  for (; i + 4 * kVL <= n; i += 4 * kVL) {
    a0 += vloadu(p + i);
    a1 += vloadu(p + i + kVL);
    a2 += vloadu(p + i + 2 * kVL);
    a3 += vloadu(p + i + 3 * kVL);
  }
  for (; i + kVL <= n; i += kVL) a0 += vloadu(p + i);
  if (i < n) a1 += vload_part(p + i, int(n - i));
  return vsum((a0 + a1) + (a2 + a3));
}

// y[0:len] = scale * sum_r x[r*inner + 0:len] (columns [c0, c0+len) of a [reduce, inner] slab).
void sum_columns(const float* x, float* y, int64_t reduce, int64_t inner, int64_t c0, int64_t len, float scale) {
  int64_t c = c0;
  for (; c + 4 * kVL <= c0 + len; c += 4 * kVL) {
    vf a0 = vzero(), a1 = vzero(), a2 = vzero(), a3 = vzero();
    for (int64_t r = 0; r < reduce; r++) {
      const float* p = x + r * inner + c;
      a0 += vloadu(p);
      a1 += vloadu(p + kVL);
      a2 += vloadu(p + 2 * kVL);
      a3 += vloadu(p + 3 * kVL);
    }
    vstoreu(y + c, a0 * scale);
    vstoreu(y + c + kVL, a1 * scale);
    vstoreu(y + c + 2 * kVL, a2 * scale);
    vstoreu(y + c + 3 * kVL, a3 * scale);
  }
  for (; c < c0 + len; c += kVL) {
    const int n = int(std::min<int64_t>(kVL, c0 + len - c));
    vf a = vzero();
    for (int64_t r = 0; r < reduce; r++) a += n == kVL ? vloadu(x + r * inner + c) : vload_part(x + r * inner + c, n);
    if (n == kVL) vstoreu(y + c, a * scale);
    else vstore_part(y + c, a * scale, n);
  }
}

}  // namespace

void reduce_sum(const float* x, float* y, int64_t outer, int64_t reduce, int64_t inner, float scale) {
  const int64_t total = outer * reduce * inner;
  const int maxT = int(std::max<int64_t>(1, std::min<int64_t>(pool_size(), total / kMinWork)));
  if (inner == 1) {
    if (outer >= maxT) {  // row sums
      parallel_for(maxT, outer, std::max<int64_t>(1, kMinWork / std::max<int64_t>(reduce, 1)), [&](int64_t o0, int64_t o1) {
        for (int64_t o = o0; o < o1; o++) y[o] = sum_contiguous(x + o * reduce, reduce) * scale;
      });
      return;
    }
    // Few long rows (a full reduction): split each row among the threads, then add the partials.
    for (int64_t o = 0; o < outer; o++) {
      std::vector<float> part(maxT, 0.0f);
      const float* row = x + o * reduce;
      parallel_for(maxT, maxT, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
          const int64_t b = reduce * t / maxT, e = reduce * (t + 1) / maxT;
          part[t] = sum_contiguous(row + b, e - b);
        }
      });
      float s = 0.0f;
      for (float p : part) s += p;
      y[o] = s * scale;
    }
    return;
  }
  // Column sums of [reduce, inner] slabs: parallel over (outer, column chunk) tasks.
  const int64_t colChunk = std::max<int64_t>(4 * kVL, (kMinWork / std::max<int64_t>(reduce, 1)) / (4 * kVL) * (4 * kVL));
  const int64_t chunksPerSlab = (inner + colChunk - 1) / colChunk;
  parallel_for(maxT, outer * chunksPerSlab, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) {
      const int64_t o = t / chunksPerSlab, c0 = (t % chunksPerSlab) * colChunk;
      sum_columns(x + o * reduce * inner, y + o * inner, reduce, inner, c0, std::min(colChunk, inner - c0), scale);
    }
  });
}

}  // namespace dn
