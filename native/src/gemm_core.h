// Building blocks of the SGEMM drivers (gemm.cc): micro-kernel, packing routines, per-thread buffers.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "gemm.h"
#include "vec.h"

namespace dn {
namespace gemm_core {

constexpr int MR = GEMM_MR;
constexpr int NV = GEMM_NV;
constexpr int NR = NV * kVL;
constexpr int KC_TARGET = 256;
constexpr int KC_MAX = 320;  // largest kc the per-panel A buffer holds
static_assert(MR <= kVL, "A panels are packed with one masked vector per k");

struct Epilogue {
  float alpha;
  bool overwrite;  // first k-block and not accumulating
  bool final;      // last k-block: add bias, apply activation
  const float* bias;
  int biasLen;
  int act;
};

// Grow-only per-thread packing buffers (64-byte aligned).
struct Buffers {
  float* a = nullptr;
  float* b = nullptr;
  float* ablk = nullptr;
  float* c = nullptr;
  size_t bCap = 0, ablkCap = 0, cCap = 0;
  Buffers() { a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * MR * KC_MAX)); }
  ~Buffers() {
    std::free(a);
    std::free(b);
    std::free(ablk);
    std::free(c);
  }
  static float* grow(float*& p, size_t& cap, size_t n) {
    if (n > cap) {
      std::free(p);
      cap = (n + 1023) & ~size_t(1023);
      p = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * cap));
    }
    return p;
  }
  float* bBuf(size_t n) { return grow(b, bCap, n); }
  float* aBlk(size_t n) { return grow(ablk, ablkCap, n); }
  float* cBuf(size_t n) { return grow(c, cCap, n); }
};
inline thread_local Buffers t_buf;

inline void finish_scalar(float& dst, float acc, const Epilogue& e, int j) {
  float r = acc * e.alpha;
  if (!e.overwrite) r += dst;
  if (e.final) {
    if (e.bias) r += e.biasLen == 1 ? e.bias[0] : e.bias[j];
    if (e.act == kRelu) r = r > 0.0f ? r : 0.0f;
  }
  dst = r;
}

// Writes an accumulator tile to C through the epilogue (alpha, accumulate, bias, relu), vectorised; partial
// tiles (last rows / columns) use masked loads and stores. Shared by the fp32 and bf16 micro-kernels.
template <int kMR, int kNV>
__attribute__((always_inline)) inline void store_tile(const vf (&c)[kMR][kNV], float* __restrict C, int64_t ldc, int mr, int nr, int j0,
                       const Epilogue& e) {
  const vf zero = vzero();
#pragma GCC unroll 16
  for (int i = 0; i < kMR; i++) {
    if (i >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < kNV; v++) {
      const int cols = nr - v * kVL;
      if (cols <= 0) break;
      float* p = C + i * ldc + v * kVL;
      vf r = c[i][v] * e.alpha;
      if (cols >= kVL) {
        if (!e.overwrite) r += vloadu(p);
        if (e.final) {
          if (e.bias) r += e.biasLen == 1 ? vset1(e.bias[0]) : vloadu(e.bias + j0 + v * kVL);
          if (e.act == kRelu) r = r > zero ? r : zero;
        }
        vstoreu(p, r);
      } else {
        if (!e.overwrite) r += vload_part(p, cols);
        if (e.final) {
          if (e.bias) r += e.biasLen == 1 ? vset1(e.bias[0]) : vload_part(e.bias + j0 + v * kVL, cols);
          if (e.act == kRelu) r = r > zero ? r : zero;
        }
        vstore_part(p, r, cols);
      }
    }
  }
}

// C[MR x NR] (+)= A-panel * Bp[kc x NR]-panel, j0 = global column of the tile. The A panel is either packed
// (A(i,k) = Ap[k*MR + i]) or, kDirect, read in place from a row-major A (A(i,k) = Ap[i*lda + k]): packing a
// row-major A is a strided transpose that costs ~25% of the time when N is small (few panels reuse it).
// kNV < NV computes only the first kNV * kVL columns of the panel (narrow last panels, e.g. T = 65 tokens), and
// kMR < MR only the first kMR rows (short last row panels, e.g. T = 17 tokens).
// B(k, j) = Bp[k*ldb + j]: ldb = NR for a packed panel, the matrix stride when read in place.
template <bool kDirect, int kNV, int kMR>
void micro_kernel(int kc, const float* __restrict Ap, int64_t lda, const float* __restrict Bp, int64_t ldb,
                  float* __restrict C, int64_t ldc, int mr, int nr, int j0, const Epilogue& e) {
  vf c[kMR][kNV];
  for (int i = 0; i < kMR; i++)
    for (int v = 0; v < kNV; v++) c[i][v] = vzero();
  for (int k = 0; k < kc; k++) {
    vf b[kNV];
    for (int v = 0; v < kNV; v++) b[v] = vloadu(Bp + k * ldb + v * kVL);
    for (int i = 0; i < kMR; i++) {
      const float ai = kDirect ? Ap[i * lda + k] : Ap[k * MR + i];
      for (int v = 0; v < kNV; v++) c[i][v] += ai * b[v];
    }
  }
  store_tile<kMR, kNV>(c, C, ldc, mr, nr, j0, e);
}

// Picks the narrowest kernel covering an mr x nr tile.
struct Tile {
  const float* A;
  int64_t lda;
  bool directA;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  int mr, nr, j0;
};

template <int kNV, int kMR>
void run_rows(int kc, const Tile& t, const Epilogue& e) {
  if (t.directA) micro_kernel<true, kNV, kMR>(kc, t.A, t.lda, t.B, t.ldb, t.C, t.ldc, t.mr, t.nr, t.j0, e);
  else micro_kernel<false, kNV, kMR>(kc, t.A, t.lda, t.B, t.ldb, t.C, t.ldc, t.mr, t.nr, t.j0, e);
}

template <int kNV>
void run_cols(int kc, const Tile& t, const Epilogue& e) {
  if constexpr (MR > 8) {
    if (t.mr > 8) run_rows<kNV, MR>(kc, t, e);
    else if (t.mr > 4) run_rows<kNV, 8>(kc, t, e);
    else run_rows<kNV, 4>(kc, t, e);
  } else if constexpr (MR > 4) {
    if (t.mr > 4) run_rows<kNV, MR>(kc, t, e);
    else run_rows<kNV, 4>(kc, t, e);
  } else {
    run_rows<kNV, MR>(kc, t, e);
  }
}

inline void run_micro_kernel(int kc, const Tile& t, const Epilogue& e) {
  if (t.nr <= kVL) run_cols<1>(kc, t, e);
  else run_cols<NV>(kc, t, e);
}

// Ap[k*MR + i] = A(i0+i, p0+k), zero rows past mr.
inline void pack_a(const GemmDesc& d, int i0, int mr, int p0, int kc, float* __restrict Ap) {
  const int64_t lda = d.lda;
  if (!d.transA) {
    const float* a = d.A + i0 * lda + p0;
    for (int i = 0; i < mr; i++) {
      const float* row = a + i * lda;
      for (int k = 0; k < kc; k++) Ap[k * MR + i] = row[k];
    }
    for (int i = mr; i < MR; i++)
      for (int k = 0; k < kc; k++) Ap[k * MR + i] = 0.0f;
  } else {
    const float* a = d.A + int64_t(p0) * lda + i0;
    for (int k = 0; k < kc; k++) {
      const float* src = a + k * lda;
      float* dst = Ap + k * MR;
      for (int i = 0; i < mr; i++) dst[i] = src[i];
      for (int i = mr; i < MR; i++) dst[i] = 0.0f;
    }
  }
}

// Transposed A (A(i,k) = A[k*lda + i]): packs panels [q0, q1) of rows [ic, ic + mc) for k-block pc into
// Ablk (panel q at Ablk + q*kc*MR). Walking k outer reads each row of A^T contiguously: packing panel by panel
// instead makes kc concurrent strided streams, which cost ~25% of a weight-gradient GEMM.
inline void pack_a_block(const GemmDesc& d, int ic, int mc, int q0, int q1, int pc, int kc, float* __restrict Ablk) {
  const float* a = d.A + int64_t(pc) * d.lda + ic;
  for (int k = 0; k < kc; k++) {
    const float* src = a + int64_t(k) * d.lda;
    for (int q = q0; q < q1; q++) {
      float* dst = Ablk + int64_t(q) * kc * MR + k * MR;
      const int i0 = q * MR, mr = std::min(MR, mc - i0);
      if (mr == MR) {
        vstore_part(dst, vload_part(src + i0, MR), MR);
      } else {
        for (int i = 0; i < mr; i++) dst[i] = src[i0 + i];
        for (int i = mr; i < MR; i++) dst[i] = 0.0f;
      }
    }
  }
}

// Bp[k*NR + j] = B(p0+k, j0+j), zero columns past nr.
inline void pack_b(const GemmDesc& d, int p0, int kc, int j0, int nr, float* __restrict Bp) {
  const int64_t ldb = d.ldb;
  if (!d.transB) {
    const float* b = d.B + int64_t(p0) * ldb + j0;
    if (nr == NR) {
      for (int k = 0; k < kc; k++)
        for (int v = 0; v < NV; v++)
          *reinterpret_cast<vf*>(Bp + k * NR + v * kVL) = vloadu(b + k * ldb + v * kVL);
    } else {
      for (int k = 0; k < kc; k++) {
        for (int j = 0; j < nr; j++) Bp[k * NR + j] = b[k * ldb + j];
        for (int j = nr; j < NR; j++) Bp[k * NR + j] = 0.0f;
      }
    }
  } else {
    const float* b = d.B + int64_t(j0) * ldb + p0;
    if (nr < NR)
      for (int k = 0; k < kc; k++)
        for (int v = 0; v < NV; v++) *reinterpret_cast<vf*>(Bp + k * NR + v * kVL) = vzero();
    for (int j = 0; j < nr; j++) {
      const float* col = b + j * ldb;
      for (int k = 0; k < kc; k++) Bp[k * NR + j] = col[k];
    }
  }
}

}  // namespace gemm_core
}  // namespace dn
