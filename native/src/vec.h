// Portable SIMD helpers on GCC vector extensions, one hardware register wide: 16 floats (zmm) with AVX-512,
// 8 (ymm) with AVX2, 4 (xmm) otherwise. A vector type wider than the hardware's is not split into registers by
// GCC but kept in memory and lowered piece by piece (a 64-byte type on an AVX2 machine ran every kernel at
// ~4 GFLOPS, slower than stock wasm), so the width follows the ISA the addon is compiled for.
#pragma once
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

// Micro-kernel tile: MR rows x (GEMM_NV vectors) columns, MR * NV accumulators. AVX-512 has 32 registers (14 x 2
// = 28 accumulators); AVX2 has 16 (6 x 2 = 12, the classic Haswell 6 x 16 tile), SSE as AVX2 with narrower vectors.
#if defined(__AVX512F__)
#define DN_VL 16
#ifndef GEMM_MR
#define GEMM_MR 14
#endif
#elif defined(__AVX__)
#define DN_VL 8
#ifndef GEMM_MR
#define GEMM_MR 6
#endif
#else
#define DN_VL 4
#ifndef GEMM_MR
#define GEMM_MR 4
#endif
#endif
#ifndef GEMM_NV
#define GEMM_NV 2
#endif

namespace dn {

constexpr int kVL = DN_VL;
typedef float vf __attribute__((vector_size(DN_VL * 4)));
typedef float vfu __attribute__((vector_size(DN_VL * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(DN_VL * 4)));

inline vf vzero() { return vf{}; }
inline vf vset1(float x) { return vf{} + x; }
inline vf vloadu(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void vstoreu(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
// Lane i ^ h: swapping halves, then quarters, ... reduces in log2(kVL) shuffles.
inline vi xor_lanes(int h) {
  vi m;
  for (int i = 0; i < kVL; i++) m[i] = i ^ h;
  return m;
}
inline float vsum(vf v) {
  for (int h = kVL / 2; h >= 1; h /= 2) v += __builtin_shuffle(v, xor_lanes(h));
  return v[0];
}
inline float vmaxh(vf v) {
  for (int h = kVL / 2; h >= 1; h /= 2) {
    const vf w = __builtin_shuffle(v, xor_lanes(h));
    v = v > w ? v : w;
  }
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
#elif defined(__AVX2__)
inline vi lanes_below(int n) {
  vi idx;
  for (int i = 0; i < kVL; i++) idx[i] = i;
  return idx < n;
}
inline vf vload_part(const float* p, int n, float fill = 0.0f) {
  const vi m = lanes_below(n);
  const vf r = (vf)_mm256_maskload_ps(p, (__m256i)m);
  return fill == 0.0f ? r : (m ? r : vset1(fill));
}
// Element stores rather than VMASKMOVPS: AMD cores (Zen 2/3) microcode the masked store at ~10 cycles.
inline void vstore_part(float* p, vf v, int n) {
  alignas(32) float t[kVL];
  *reinterpret_cast<vf*>(t) = v;
  for (int i = 0; i < n; i++) p[i] = t[i];
}
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
