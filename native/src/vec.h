// Portable SIMD helpers on GCC vector extensions: 16 floats (one zmm with
// AVX-512, two ymm with AVX2, four xmm otherwise).
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef GEMM_MR
#define GEMM_MR 14
#endif
#ifndef GEMM_NV
#define GEMM_NV 2
#endif

namespace dn {

constexpr int kVL = 16;
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));
typedef int32_t vi __attribute__((vector_size(64)));

inline vf vzero() { return vf{}; }
inline vf vset1(float x) { return vf{} + x; }
inline vf vloadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void vstoreu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
// Horizontal reductions by halving (4 shuffles instead of 15 scalar steps).
inline float vsum(vf v) {
  v += __builtin_shuffle(v, vi{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7});
  v += __builtin_shuffle(v, vi{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11});
  v += __builtin_shuffle(v, vi{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13});
  v += __builtin_shuffle(v, vi{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14});
  return v[0];
}
inline float vmaxh(vf v) {
  vf w;
  w = __builtin_shuffle(v, vi{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7});
  v = v > w ? v : w;
  w = __builtin_shuffle(v, vi{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11});
  v = v > w ? v : w;
  w = __builtin_shuffle(v, vi{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13});
  v = v > w ? v : w;
  w = __builtin_shuffle(v, vi{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14});
  v = v > w ? v : w;
  return v[0];
}
inline vf vmax(vf a, vf b) { return a > b ? a : b; }
inline vf vmin(vf a, vf b) { return a < b ? a : b; }

// Loads n < kVL floats, filling the rest (tails of rows); stores the first n lanes.
#if defined(__AVX512F__)
inline vf vload_part(const float* p, int n, float fill = 0.0f) {
  return (vf)_mm512_mask_loadu_ps(_mm512_set1_ps(fill), __mmask16((1u << n) - 1), p);
}
inline void vstore_part(float* p, vf v, int n) { _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), (__m512)v); }
#else
inline vf vload_part(const float* p, int n, float fill = 0.0f) {
  alignas(64) float t[kVL];
  for (int i = 0; i < kVL; i++) t[i] = i < n ? p[i] : fill;
  return *reinterpret_cast<const vf*>(t);
}
inline void vstore_part(float* p, vf v, int n) {
  for (int i = 0; i < n; i++) p[i] = v[i];
}
#endif

}  // namespace dn
