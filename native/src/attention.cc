// Multi-head self-attention on a fused qkv projection, one (batch, head) per task.
#include <algorithm>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"
#include "vecmath.h"

namespace dn {
namespace {

// Row-wise softmax in place; tails use -inf/0-filled vectors so every step stays vectorised.
void softmax_rows(float* P, int T) {
  const int nfull = T / kVL * kVL, tail = T - nfull;
  const float ninf = -__builtin_huge_valf();
  for (int i = 0; i < T; i++) {
    float* row = P + int64_t(i) * T;
    vf vm = vset1(ninf);
    for (int j = 0; j < nfull; j += kVL) vm = vmax(vm, vloadu(row + j));
    if (tail) vm = vmax(vm, vload_part(row + nfull, tail, ninf));
    const vf vmx = vset1(vmaxh(vm));
    vf acc = vzero();
    for (int j = 0; j < nfull; j += kVL) {
      const vf e = vexp(vloadu(row + j) - vmx);
      vstoreu(row + j, e);
      acc += e;
    }
    vf et = vzero();
    if (tail) {
      et = vexp(vload_part(row + nfull, tail, ninf) - vmx);  // exp(-inf) = 0 in the padding
      acc += et;
    }
    const vf inv = vset1(1.0f / vsum(acc));
    for (int j = 0; j < nfull; j += kVL) vstoreu(row + j, vloadu(row + j) * inv);
    if (tail) vstore_part(row + nfull, et * inv, tail);
  }
}

// dS = P * (dP - rowsum(dP * P)) * scale, in place in dP.
void softmax_backward_rows(const float* P, float* dP, int T, float scale) {
  const int nfull = T / kVL * kVL, tail = T - nfull;
  for (int i = 0; i < T; i++) {
    const float* pr = P + int64_t(i) * T;
    float* gr = dP + int64_t(i) * T;
    vf acc = vzero();
    for (int j = 0; j < nfull; j += kVL) acc += vloadu(pr + j) * vloadu(gr + j);
    if (tail) acc += vload_part(pr + nfull, tail) * vload_part(gr + nfull, tail);
    const vf dot = vset1(vsum(acc));
    for (int j = 0; j < nfull; j += kVL) vstoreu(gr + j, vloadu(pr + j) * (vloadu(gr + j) - dot) * scale);
    if (tail) vstore_part(gr + nfull, vload_part(pr + nfull, tail) * (vload_part(gr + nfull, tail) - dot) * scale, tail);
  }
}

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

// probs is only read again by the backward pass, long after: stream it to memory (no read-for-ownership of
// 3 MB of cache lines) while the working copy stays in cache for P V.
void stream_copy(float* dst, const float* src, int64_t n) {
#if defined(__AVX512F__)
  int64_t i = 0;
  while (i < n && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0) {
    dst[i] = src[i];
    i++;
  }
  for (; i + kVL <= n; i += kVL) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  for (; i < n; i++) dst[i] = src[i];
  _mm_sfence();
#else
  std::copy(src, src + n, dst);
#endif
}

}  // namespace

void attention(const float* qkv, float* out, float* probs, int B, int T, int H, int hd, float scale) {
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
      softmax_rows(P, T);
      gemm(desc(T, hd, T, P, T, false, v, ld, false, out + b * T * D + h * hd, D), 1);
      stream_copy(probs + u * T * T, P, int64_t(T) * T);
    }
  });
}

void attention_grad(const float* dout, const float* qkv, const float* probs, float* dqkv, int B, int T,
                    int H, int hd, float scale) {
  const int D = H * hd;
  const int64_t ld = 3 * int64_t(D);
  parallel_for(pool_size(), int64_t(B) * H, 1, [&](int64_t u0, int64_t u1) {
    std::vector<float>& dP = t_scratch;
    if (dP.size() < size_t(T) * T) dP.resize(size_t(T) * T);
    for (int64_t u = u0; u < u1; u++) {
      const int64_t b = u / H, h = u % H;
      const float* q = qkv + b * T * ld + h * hd;
      const float* k = q + D;
      const float* v = q + 2 * D;
      const float* dO = dout + b * T * D + h * hd;
      const float* P = probs + u * T * T;
      float* dq = dqkv + b * T * ld + h * hd;
      float* dk = dq + D;
      float* dv = dq + 2 * D;
      gemm(desc(T, T, hd, dO, D, false, v, ld, true, dP.data(), T), 1);   // dP = dO V^T
      gemm(desc(T, hd, T, P, T, true, dO, D, false, dv, ld), 1);          // dV = P^T dO
      softmax_backward_rows(P, dP.data(), T, scale);                       // dS
      gemm(desc(T, hd, T, dP.data(), T, false, k, ld, false, dq, ld), 1);  // dQ = dS K
      gemm(desc(T, hd, T, dP.data(), T, true, q, ld, false, dk, ld), 1);   // dK = dS^T Q
    }
  });
}

}  // namespace dn
