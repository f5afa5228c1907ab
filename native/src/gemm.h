// Single-precision GEMM: C = act(alpha * op(A) op(B) [+ C] + bias) [+ residual] [* mul], row-major with strides.
#pragma once
#include <cstdint>

namespace dn {

enum Activation { kLinear = 0, kRelu = 1, kGelu = 2 };  // kGelu: exact, 0.5 x (1 + erf(x / sqrt 2))

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
  // Applied with the bias on the last k-block, so that the tensors a ViT layer would read and write again in a
  // separate pass are touched while the tile is in registers (all [M, N] with their own row strides):
  float* geluGrad = nullptr;  // with kGelu: GELU's derivative at the pre-activation (what its backward needs)
  int64_t ldg = 0;
  const float* residual = nullptr;  // then C += residual (a residual connection)
  int64_t ldr = 0;
  const float* mul = nullptr;  // then C *= mul (dy W^T times GELU's derivative: the gradient through GELU)
  int64_t ldm = 0;
  // Not transposed B only: colSumB[j] = sum over k of B(k, j), summed while B is packed (the bias gradient of a
  // weight-gradient GEMM x^T dy is the column sum of dy).
  float* colSumB = nullptr;

  bool has_extras() const { return geluGrad || residual || mul; }
};

// Uses up to maxThreads pool threads when the problem is big enough.
void gemm(const GemmDesc& d, int maxThreads);

// Batched: operand b of batch i starts at A + i*strideA etc. (stride 0 = broadcast).
void gemm_batched(const GemmDesc& d, int batch, int64_t strideA, int64_t strideB, int64_t strideC,
                  int maxThreads);

}  // namespace dn
