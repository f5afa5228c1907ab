// Multi-head self-attention on a fused qkv projection, one (batch, head) per task.
//
// With fp32 matmuls and a head width that is a whole number of micro-kernel panels (hd % NR == 0: hd = 64 on
// every ViT here), each (batch, head) runs its products straight on the SGEMM micro-kernel: K^T and V^T are packed
// once per head, q/k/v/dO rows and the probability rows are read in place, and the probabilities live in a padded
// per-thread tile whose padding is zero, so no tile needs a bounds check or a copy. Going through gemm() for
// these small products (T = 17..197 tokens) paid a packing of each operand and the driver's set-up per call: the
// attention of a bench-tiny step ran at 33-41 GFLOPS where its GEMMs run at ~80. Other head widths, and bf16,
// take the gemm() path.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gemm.h"
#include "gemm_core.h"
#include "kernels.h"
#include "precision.h"
#include "threadpool.h"
#include "vecmath.h"

namespace dn {
namespace {

using gemm_core::Epilogue;
using gemm_core::MR;
using gemm_core::NR;

// Row-wise softmax in place over T columns of rows ld apart; tails use -inf/0-filled vectors so every step stays
// vectorised.
void softmax_rows(float* P, int T, int64_t ld) {
  const int nfull = T / kVL * kVL, tail = T - nfull;
  const float ninf = -__builtin_huge_valf();
  for (int i = 0; i < T; i++) {
    float* row = P + int64_t(i) * ld;
    vf vm = vset1(ninf);
    for (int j = 0; j < nfull; j += kVL) vm = vmax(vm, vloadu(row + j));
    if (tail) vm = vmax(vm, vload_part(row + nfull, tail, ninf));
    const vf vmx = vset1(vmaxh(vm));
    vf acc = vzero();
    for (int j = 0; j < nfull; j += kVL) {
      const vf e = vexp_nonpos(vloadu(row + j) - vmx);
      vstoreu(row + j, e);
      acc += e;
    }
    vf et = vzero();
    if (tail) {
      et = vexp_nonpos(vload_part(row + nfull, tail, ninf) - vmx);  // exp(-inf) = 0 in the padding
      acc += et;
    }
    const vf inv = vset1(1.0f / vsum(acc));
    for (int j = 0; j < nfull; j += kVL) vstoreu(row + j, vloadu(row + j) * inv);
    if (tail) vstore_part(row + nfull, et * inv, tail);
  }
}

// dS = P * (dP - rowsum(dP * P)) * scale, in place in dP (rows ldp / ldg apart).
void softmax_backward_rows(const float* P, int64_t ldp, float* dP, int64_t ldg, int T, float scale) {
  const int nfull = T / kVL * kVL, tail = T - nfull;
  for (int i = 0; i < T; i++) {
    const float* pr = P + int64_t(i) * ldp;
    float* gr = dP + int64_t(i) * ldg;
    vf acc = vzero();
    for (int j = 0; j < nfull; j += kVL) acc += vloadu(pr + j) * vloadu(gr + j);
    if (tail) acc += vload_part(pr + nfull, tail) * vload_part(gr + nfull, tail);
    const vf dot = vset1(vsum(acc));
    for (int j = 0; j < nfull; j += kVL) vstoreu(gr + j, vloadu(pr + j) * (vloadu(gr + j) - dot) * scale);
    if (tail) vstore_part(gr + nfull, vload_part(pr + nfull, tail) * (vload_part(gr + nfull, tail) - dot) * scale, tail);
  }
}

// probs is only read again by the backward pass, long after: stream it to memory (no read-for-ownership of
// its cache lines) while the working copy stays in cache.
void stream_rows(float* dst, const float* src, int T, int64_t lds) {
#if defined(__AVX512F__)
  for (int i = 0; i < T; i++) {
    float* d = dst + int64_t(i) * T;
    const float* s = src + int64_t(i) * lds;
    int j = 0;
    while (j < T && (reinterpret_cast<uintptr_t>(d + j) & 63) != 0) {
      d[j] = s[j];
      j++;
    }
    for (; j + kVL <= T; j += kVL) _mm512_stream_ps(d + j, _mm512_loadu_ps(s + j));
    for (; j < T; j++) d[j] = s[j];
  }
  _mm_sfence();
#else
  for (int i = 0; i < T; i++) std::memcpy(dst + int64_t(i) * T, src + int64_t(i) * lds, sizeof(float) * T);
#endif
}

// ---- Micro-kernel path --------------------------------------------------------------------------------------

// Grow-only, 64-byte aligned per-thread scratch.
struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      cap = (n + 1023) & ~size_t(1023);
      p = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * cap));
    }
    return p;
  }
};
thread_local Scratch t_tile, t_packB, t_packA, t_lastA;

bool micro_path(int hd) { return precision() == kFp32 && hd >= NR && hd % NR == 0; }

// A read in place by the direct-A micro-kernel: row tiles of MR rows from A (lda); the last, partial tile is
// copied into a zero-padded block first (the kernel reads whole tiles, and past the last row lies the end of
// the tensor).
struct RowsA {
  const float* A;
  int64_t lda;
  const float* last;  // rows [full, T) then zeros, `cols` floats apart; null when T is a multiple of MR
  int full;
  RowsA(const float* A_, int64_t lda_, int T, int cols, Scratch& buf) : A(A_), lda(lda_), last(nullptr) {
    full = T / MR * MR;
    if (full == T) return;
    float* b = buf.get(size_t(MR) * cols);
    for (int i = full; i < T; i++) std::memcpy(b + int64_t(i - full) * cols, A + int64_t(i) * lda, sizeof(float) * cols);
    std::memset(b + int64_t(T - full) * cols, 0, sizeof(float) * size_t(MR - (T - full)) * cols);
    last = b;
  }
  const float* tile(int i0, int64_t& ld) const {
    if (i0 < full) {
      ld = lda;
      return A + int64_t(i0) * lda;
    }
    ld = -1;
    return last;
  }
};

// C (ldc) = alpha * A B: rows [0, T) x columns [0, N), sum over kc; A by row tiles, B panel p at Bp(p) with row
// stride ldb.
template <typename BPanel>
void tiles_direct_a(int T, int N, int kc, const RowsA& a, int lastLd, BPanel Bp, int64_t ldb, float* C, int64_t ldc,
                    float alpha) {
  const Epilogue e{alpha, true, true, nullptr, 0, kLinear};
  for (int i0 = 0; i0 < T; i0 += MR) {
    const int mr = std::min(MR, T - i0);
    int64_t lda;
    const float* A = a.tile(i0, lda);
    if (lda < 0) lda = lastLd;
    for (int j0 = 0, p = 0; j0 < N; j0 += NR, p++) {
      const int nr = std::min(NR, N - j0);
      float* c = C + int64_t(i0) * ldc + j0;
      if (nr <= kVL) gemm_core::micro_kernel<true, 1, MR>(kc, A, lda, Bp(p), ldb, c, ldc, mr, nr, 0, 0, e);
      else gemm_core::micro_kernel<true, gemm_core::NV, MR>(kc, A, lda, Bp(p), ldb, c, ldc, mr, nr, 0, 0, e);
    }
  }
}

#if defined(__AVX2__)
// dst[c*ldd + r] = src[r*lds + c] for an 8 x 8 block.
inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

// Kt panel p (NR tokens) = X^T: Kt[p*hd*NR + d*NR + j] = X[(p*NR + j)*ld + d], zero past T.
void pack_transposed(const float* X, int64_t ld, int T, int hd, float* Kt) {
  const int npan = (T + NR - 1) / NR;
  for (int p = 0; p < npan; p++) {
    float* dst = Kt + int64_t(p) * hd * NR;
    for (int j0 = 0; j0 < NR; j0 += 8) {
      const int tok = p * NR + j0, n = std::min(8, T - tok);
#if defined(__AVX2__)
      if (n == 8 && hd % 8 == 0) {
        for (int d = 0; d < hd; d += 8) transpose8x8(X + int64_t(tok) * ld + d, ld, dst + d * NR + j0, NR);
        continue;
      }
#endif
      for (int j = 0; j < 8; j++)
        for (int d = 0; d < hd; d++) dst[d * NR + j0 + j] = j < n ? X[int64_t(tok + j) * ld + d] : 0.0f;
    }
  }
}

// A^T packed for the micro-kernel from a [T, ...] row-major S (row stride lds): panel q holds columns
// [q*MR, q*MR + MR) of S as rows of A^T: Ap[q*T*MR + k*MR + i] = S[k*lds + q*MR + i], zero past column T.
void pack_columns(const float* S, int64_t lds, int T, float* Ap) {
  const int nq = (T + MR - 1) / MR;
  for (int q = 0; q < nq; q++) {
    const int c0 = q * MR, n = std::min(MR, T - c0);
    float* dst = Ap + int64_t(q) * T * MR;
    for (int k = 0; k < T; k++) vstore_part(dst + k * MR, vload_part(S + k * lds + c0, n), MR);
  }
}

// C rows [0, T) x hd columns = A^T B with A^T packed by pack_columns and B rows read in place (ldb).
void tiles_packed_a(int T, int hd, const float* Ap, const float* B, int64_t ldb, float* C, int64_t ldc) {
  const Epilogue e{1.0f, true, true, nullptr, 0, kLinear};
  for (int q = 0, i0 = 0; i0 < T; q++, i0 += MR) {
    const int mr = std::min(MR, T - i0);
    for (int j0 = 0; j0 < hd; j0 += NR)
      gemm_core::micro_kernel<false, gemm_core::NV, MR>(T, Ap + int64_t(q) * T * MR, MR, B + j0, ldb,
                                                        C + int64_t(i0) * ldc + j0, ldc, mr, NR, 0, 0, e);
  }
}

void attention_micro(const float* qkv, float* out, float* probs, int B, int T, int H, int hd, float scale) {
  const int D = H * hd;
  const int64_t ld = 3 * int64_t(D), TT = int64_t(T) * T;
  const int npanT = (T + NR - 1) / NR;
  parallel_for(pool_size(), int64_t(B) * H, 1, [&](int64_t u0, int64_t u1) {
    float* Kt = t_packB.get(size_t(npanT) * hd * NR);
    for (int64_t u = u0; u < u1; u++) {
      const int64_t b = u / H, h = u % H;
      const float* q = qkv + b * T * ld + h * hd;
      const float* k = q + D;
      const float* v = q + 2 * D;
      float* P = probs + u * TT;
      // P = softmax(scale q k^T), in the output
      pack_transposed(k, ld, T, hd, Kt);
      tiles_direct_a(T, T, hd, RowsA(q, ld, T, hd, t_lastA), hd, [&](int p) { return Kt + int64_t(p) * hd * NR; }, NR,
                     P, T, scale);
      softmax_rows(P, T, T);
      // out = P v
      tiles_direct_a(T, hd, T, RowsA(P, T, T, T, t_lastA), T, [&](int p) { return v + p * NR; }, ld,
                     out + b * T * D + h * hd, D, 1.0f);
    }
  });
}

// One (batch, head) unit of the backward pass: its rows of q, k, v (packed qkv, row stride 3D), of the output
// gradient (stride D), its T x T probabilities, and where its q, k, v gradients go.
struct HeadGrad {
  const float *q, *k, *v, *dO, *P;
  float *dq, *dk, *dv;
  HeadGrad(const float* dout, const float* qkv, const float* probs, float* dqkv, int64_t u, int T, int H, int hd) {
    const int64_t D = int64_t(H) * hd, ld = 3 * D, b = u / H, h = u % H;
    q = qkv + b * T * ld + h * hd;
    k = q + D;
    v = q + 2 * D;
    dO = dout + b * T * D + h * hd;
    P = probs + u * T * T;
    dq = dqkv + b * T * ld + h * hd;
    dk = dq + D;
    dv = dq + 2 * D;
  }
};

void attention_grad_micro(const float* dout, const float* qkv, const float* probs, float* dqkv, int B, int T, int H,
                          int hd, float scale) {
  const int D = H * hd;
  const int64_t ld = 3 * int64_t(D);
  const int npanT = (T + NR - 1) / NR, Tr = (T + MR - 1) / MR * MR, Tp = (T + kVL - 1) / kVL * kVL;
  parallel_for(pool_size(), int64_t(B) * H, 1, [&](int64_t u0, int64_t u1) {
    float* dS = t_tile.get(size_t(Tr) * Tp);
    std::memset(dS, 0, sizeof(float) * size_t(Tr) * Tp);  // rows past T stay zero: read whole by dq's tiles
    float* Vt = t_packB.get(size_t(npanT) * hd * NR);
    float* At = t_packA.get(size_t(Tr) * T);
    for (int64_t u = u0; u < u1; u++) {
      const HeadGrad g(dout, qkv, probs, dqkv, u, T, H, hd);
      const float *q = g.q, *k = g.k, *v = g.v, *dO = g.dO, *P = g.P;
      float *dq = g.dq, *dk = g.dk, *dv = g.dv;
      // dP = dO v^T
      pack_transposed(v, ld, T, hd, Vt);
      tiles_direct_a(T, T, hd, RowsA(dO, D, T, hd, t_lastA), hd, [&](int p) { return Vt + int64_t(p) * hd * NR; }, NR,
                     dS, Tp, 1.0f);
      // dv = P^T dO
      pack_columns(P, T, T, At);
      tiles_packed_a(T, hd, At, dO, D, dv, ld);
      // dS = P (dP - rowsum(dP P)) scale
      softmax_backward_rows(P, T, dS, Tp, T, scale);
      // dq = dS k (dS's rows past T are zero)
      tiles_direct_a(T, hd, T, RowsA(dS, Tp, Tr, Tp, t_lastA), Tp, [&](int p) { return k + p * NR; }, ld, dq, ld, 1.0f);
      // dk = dS^T q
      pack_columns(dS, Tp, T, At);
      tiles_packed_a(T, hd, At, q, ld, dk, ld);
    }
  });
}

// ---- gemm() path (bf16, other head widths) ---------------------------------------------------------------

GemmDesc desc(int M, int N, int K, const float* A, int64_t lda, bool tA, const float* B, int64_t ldb,
              bool tB, float* C, int64_t ldc, float alpha = 1.0f) {
  GemmDesc d;
  d.M = M;
  d.N = N;
  d.K = K;
  d.A = A;
  d.lda = lda;
  d.transA = tA;
  d.B = B;
  d.ldb = ldb;
  d.transB = tB;
  d.C = C;
  d.ldc = ldc;
  d.alpha = alpha;
  return d;
}

thread_local std::vector<float> t_scratch;
thread_local std::vector<float> t_probs;

void attention_gemm(const float* qkv, float* out, float* probs, int B, int T, int H, int hd, float scale) {
  const int D = H * hd;
  const int64_t ld = 3 * int64_t(D);
  parallel_for(pool_size(), int64_t(B) * H, 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; u++) {
      const int64_t b = u / H, h = u % H;
      const float* q = qkv + b * T * ld + h * hd;
      const float* k = q + D;
      const float* v = q + 2 * D;
      std::vector<float>& Pv = t_probs;
      if (Pv.size() < size_t(T) * T) Pv.resize(size_t(T) * T);
      float* P = Pv.data();
      gemm(desc(T, T, hd, q, ld, false, k, ld, true, P, T, scale), 1);
      softmax_rows(P, T, T);
      gemm(desc(T, hd, T, P, T, false, v, ld, false, out + b * T * D + h * hd, D), 1);
      stream_rows(probs + u * T * T, P, T, T);
    }
  });
}

void attention_grad_gemm(const float* dout, const float* qkv, const float* probs, float* dqkv, int B, int T,
                         int H, int hd, float scale) {
  const int D = H * hd;
  const int64_t ld = 3 * int64_t(D);
  parallel_for(pool_size(), int64_t(B) * H, 1, [&](int64_t u0, int64_t u1) {
    std::vector<float>& dP = t_scratch;
    if (dP.size() < size_t(T) * T) dP.resize(size_t(T) * T);
    for (int64_t u = u0; u < u1; u++) {
      const HeadGrad g(dout, qkv, probs, dqkv, u, T, H, hd);
      const float *q = g.q, *k = g.k, *v = g.v, *dO = g.dO, *P = g.P;
      float *dq = g.dq, *dk = g.dk, *dv = g.dv;
      gemm(desc(T, T, hd, dO, D, false, v, ld, true, dP.data(), T), 1);   // dP = dO V^T
      gemm(desc(T, hd, T, P, T, true, dO, D, false, dv, ld), 1);          // dV = P^T dO
      softmax_backward_rows(P, T, dP.data(), T, T, scale);                 // dS
      gemm(desc(T, hd, T, dP.data(), T, false, k, ld, false, dq, ld), 1);  // dQ = dS K
      gemm(desc(T, hd, T, dP.data(), T, true, q, ld, false, dk, ld), 1);   // dK = dS^T Q
    }
  });
}

}  // namespace

void attention(const float* qkv, float* out, float* probs, int B, int T, int H, int hd, float scale) {
  if (B <= 0 || T <= 0 || H <= 0 || hd <= 0) return;
  if (micro_path(hd)) return attention_micro(qkv, out, probs, B, T, H, hd, scale);
  attention_gemm(qkv, out, probs, B, T, H, hd, scale);
}

void attention_grad(const float* dout, const float* qkv, const float* probs, float* dqkv, int B, int T,
                    int H, int hd, float scale) {
  if (B <= 0 || T <= 0 || H <= 0 || hd <= 0) return;
  if (micro_path(hd)) return attention_grad_micro(dout, qkv, probs, dqkv, B, T, H, hd, scale);
  attention_grad_gemm(dout, qkv, probs, dqkv, B, T, H, hd, scale);
}

}  // namespace dn
