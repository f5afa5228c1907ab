// Matmul precision of the kernels (process-wide, set once at backend selection) and the CPU features it needs.
#pragma once
#include <cstdint>

#include "gemm.h"

namespace dn {

enum Precision {
  kFp32 = 0,
  kBf16 = 1,          // bf16 operands, fp32 accumulation: VDPBF16PS (AVX512_BF16)
  kBf16Emulated = 2,  // the same numbers computed with fp32 FMAs on any CPU (tests, CPUs without AVX512_BF16)
};

bool cpu_has_avx512_bf16();
// Sets the precision of every later GEMM (attention's included); kBf16 on a CPU without AVX512_BF16 is refused
// (returns false). Not to be called while a kernel runs.
bool set_precision(int p);
int precision();

// C = act(alpha * bf16(op(A)) bf16(op(B)) (+ C) + bias), operands rounded to bf16 (round to nearest even) and
// products accumulated in fp32 in the order VDPBF16PS does (per k pair: the odd product, then the even one).
// `hardware` selects VDPBF16PS; otherwise fp32 FMAs give the same sums (a product of two bf16 is exact in fp32).
void gemm_bf16(const GemmDesc& d, int nth, bool hardware);

// fp32 -> bf16 bits, round to nearest even; NaN stays NaN; subnormals become zero as VDPBF16PS reads them (DAZ).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0) return uint16_t((u >> 16) & 0x8000u);  // zero / subnormal -> signed zero
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

}  // namespace dn
