// Single-precision GEMM: C = act(alpha * op(A) op(B) [+ C] + bias), row-major with strides.
#pragma once
#include <cstdint>

namespace dn {

enum Activation { kLinear = 0, kRelu = 1 };

struct GemmDesc {
  int M = 0, N = 0, K = 0;
  const float* A = nullptr;  // A(i,k) = transA ? A[k*lda + i] : A[i*lda + k]
  int64_t lda = 0;
  bool transA = false;
  const float* B = nullptr;  // B(k,j) = transB ? B[j*ldb + k] : B[k*ldb + j]
  int64_t ldb = 0;
  bool transB = false;
  float* C = nullptr;  // C(i,j) = C[i*ldc + j]
  int64_t ldc = 0;
  float alpha = 1.0f;
  bool accumulate = false;      // C += ... instead of C = ...
  const float* bias = nullptr;  // per column (biasLen == N) or scalar (biasLen == 1)
  int biasLen = 0;
  int act = kLinear;
};

// Uses up to maxThreads pool threads when the problem is big enough.
void gemm(const GemmDesc& d, int maxThreads);

// Batched: operand b of batch i starts at A + i*strideA etc. (stride 0 = broadcast).
void gemm_batched(const GemmDesc& d, int batch, int64_t strideA, int64_t strideB, int64_t strideC,
                  int maxThreads);

}  // namespace dn
