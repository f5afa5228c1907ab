// bf16 GEMM with fp32 accumulation. Operands are packed once per call as bf16 pairs along k (one 32-bit word =
// elements 2p and 2p+1 of a row of A or a column of B), the layout VDPBF16PS consumes: a micro-kernel broadcasts
// A's pair of row i and multiplies it into one fp32 lane per column. Two micro-kernels share the packing and the
// driver: VDPBF16PS (compiled with a target attribute, chosen at run time by cpuid, so the addon builds and runs
// on every x86-64), and an emulation with fp32 FMAs that computes the same sums in the same order (the product of
// two bf16 is exact in fp32), on any CPU: the tests check bf16 numerics with it where the instruction is missing.
#include <algorithm>
#include <atomic>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "gemm_core.h"
#include "precision.h"
#include "threadpool.h"

namespace dn {
namespace {

using gemm_core::Epilogue;

constexpr int KP_STEP = 128;  // k pairs per block: an A panel and the B panels it meets stay in L1/L2

// A(i, k) and B(k, j) of the descriptor, as the fp32 driver reads them.
inline float at_a(const GemmDesc& d, int i, int k) { return d.transA ? d.A[int64_t(k) * d.lda + i] : d.A[int64_t(i) * d.lda + k]; }
inline float at_b(const GemmDesc& d, int k, int j) { return d.transB ? d.B[int64_t(j) * d.ldb + k] : d.B[int64_t(k) * d.ldb + j]; }

inline uint32_t pair(float even, float odd) { return uint32_t(to_bf16(even)) | (uint32_t(to_bf16(odd)) << 16); }

// Ap[p*MR + i] = pair of A(i0+i, 2(p0+p)), A(i0+i, 2(p0+p)+1); rows past mr and k past K are zero.
template <int MR>
void pack_a(const GemmDesc& d, int i0, int mr, int p0, int pc, uint32_t* __restrict Ap) {
  for (int p = 0; p < pc; p++) {
    const int k = 2 * (p0 + p);
    for (int i = 0; i < MR; i++) {
      if (i >= mr) {
        Ap[p * MR + i] = 0;
        continue;
      }
      const float e = at_a(d, i0 + i, k), o = k + 1 < d.K ? at_a(d, i0 + i, k + 1) : 0.0f;
      Ap[p * MR + i] = pair(e, o);
    }
  }
}

// Panel of NR columns from j0 over all k pairs: Bp[p*NR + j]; columns past nr and k past K are zero.
template <int NR>
void pack_b_panel(const GemmDesc& d, int j0, int nr, int KP, uint32_t* __restrict Bp) {
  for (int p = 0; p < KP; p++) {
    const int k = 2 * p;
    for (int j = 0; j < NR; j++) {
      if (j >= nr) {
        Bp[p * NR + j] = 0;
        continue;
      }
      const float e = at_b(d, k, j0 + j), o = k + 1 < d.K ? at_b(d, k + 1, j0 + j) : 0.0f;
      Bp[p * NR + j] = pair(e, o);
    }
  }
}

// ---- Emulation: the pairs unpacked to fp32 (a bf16 is the top half of an fp32), two FMAs per pair ----------

struct EmulatedKernel {
  static constexpr int NV = 2;
  static constexpr int NR = NV * kVL;
  static constexpr int MR = kVL >= 16 ? 12 : 4;  // accumulators + 4 unpacked B vectors + 2 broadcasts fit the registers
  typedef int32_t viu __attribute__((vector_size(kVL * 4), aligned(4)));

  static void run(int pc, const uint32_t* __restrict Ap, const uint32_t* __restrict Bp, float* C, int64_t ldc, int mr,
                  int nr, int j0, const Epilogue& e) {
    vf c[MR][NV];
    for (int i = 0; i < MR; i++)
      for (int v = 0; v < NV; v++) c[i][v] = vzero();
    const vi hi = vi{} + int32_t(0xffff0000u);
    for (int p = 0; p < pc; p++) {
      vf bo[NV], be[NV];
      for (int v = 0; v < NV; v++) {
        const vi b = *reinterpret_cast<const viu*>(Bp + p * NR + v * kVL);
        bo[v] = (vf)(b & hi);
        be[v] = (vf)(b << 16);
      }
      for (int i = 0; i < MR; i++) {
        const uint32_t a = Ap[p * MR + i], ahi = a & 0xffff0000u, alo = a << 16;
        float ao, ae;
        __builtin_memcpy(&ao, &ahi, 4);
        __builtin_memcpy(&ae, &alo, 4);
        // VDPBF16PS adds the odd product first, then the even one, each rounded once (the products are exact)
        for (int v = 0; v < NV; v++) {
          c[i][v] += ao * bo[v];
          c[i][v] += ae * be[v];
        }
      }
    }
    gemm_core::store_tile<MR, NV>(c, C, ldc, mr, nr, j0, e);
  }
};

// ---- VDPBF16PS (AVX512_BF16): 14 x 32 tile, 28 zmm accumulators ---------------------------------------------

#if defined(__x86_64__) && defined(__GNUC__)
#define DN_HAVE_BF16_KERNEL 1
struct HardwareKernel {
  static constexpr int NR = 32;
  static constexpr int MR = 14;

  __attribute__((target("avx512f,avx512bf16"))) static void run(int pc, const uint32_t* __restrict Ap,
                                                                const uint32_t* __restrict Bp, float* C, int64_t ldc,
                                                                int mr, int nr, int j0, const Epilogue& e) {
    __m512 c[MR][2];
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < pc; p++) {
      const __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp + p * NR);
      const __m512bh b1 = (__m512bh)_mm512_loadu_si512(Bp + p * NR + 16);
#pragma GCC unroll 14
      for (int i = 0; i < MR; i++) {
        const __m512bh a = (__m512bh)_mm512_set1_epi32(int(Ap[p * MR + i]));
        c[i][0] = _mm512_dpbf16_ps(c[i][0], a, b0);
        c[i][1] = _mm512_dpbf16_ps(c[i][1], a, b1);
      }
    }
    const __m512 alpha = _mm512_set1_ps(e.alpha), zero = _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) {
      for (int v = 0; v < 2; v++) {
        const int cols = nr - 16 * v;
        if (cols <= 0) break;
        const __mmask16 m = cols >= 16 ? __mmask16(0xffff) : __mmask16((1u << cols) - 1);
        float* dst = C + i * ldc + 16 * v;
        __m512 r = _mm512_mul_ps(c[i][v], alpha);
        if (!e.overwrite) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, dst));
        if (e.final) {
          if (e.bias) r = _mm512_add_ps(r, e.biasLen == 1 ? _mm512_set1_ps(e.bias[0]) : _mm512_maskz_loadu_ps(m, e.bias + j0 + 16 * v));
          if (e.act == kRelu) r = _mm512_max_ps(r, zero);
        }
        _mm512_mask_storeu_ps(dst, m, r);
      }
    }
  }
};
#endif

// ---- Driver: B packed up front (threads share it), tasks = row panel x block of column panels, whole K --------

template <class Kern>
struct Job {
  const GemmDesc* d;
  int KP, npan, nRowPan, colBlock, nColBlocks;
  uint32_t* Bp;  // panel p at Bp + p*KP*NR
  Barrier* bar;
  std::atomic<int> next{0};
};

thread_local std::vector<uint32_t> t_bpack, t_apack;

template <class Kern>
void run_task(const Job<Kern>& j, int task) {
  constexpr int MR = Kern::MR, NR = Kern::NR;
  const GemmDesc& d = *j.d;
  const int q = task / j.nColBlocks, p0 = (task % j.nColBlocks) * j.colBlock, p1 = std::min(j.npan, p0 + j.colBlock);
  const int i0 = q * MR, mr = std::min(MR, d.M - i0);
  if (t_apack.size() < size_t(MR) * KP_STEP) t_apack.resize(size_t(MR) * KP_STEP);
  uint32_t* Ap = t_apack.data();
  for (int pp = 0; pp < j.KP; pp += KP_STEP) {
    const int pc = std::min(KP_STEP, j.KP - pp);
    pack_a<MR>(d, i0, mr, pp, pc, Ap);
    const Epilogue e{d.alpha, pp == 0 && !d.accumulate, pp + pc >= j.KP, d.bias, d.biasLen, d.act};
    for (int p = p0; p < p1; p++) {
      const int j0 = p * NR;
      Kern::run(pc, Ap, j.Bp + int64_t(p) * j.KP * NR + int64_t(pp) * NR, d.C + int64_t(i0) * d.ldc + j0, d.ldc, mr,
                std::min(NR, d.N - j0), j0, e);
    }
  }
}

template <class Kern>
void thread_body(Job<Kern>& j, int tid, int nth) {
  constexpr int NR = Kern::NR;
  const GemmDesc& d = *j.d;
  for (int p = tid; p < j.npan; p += nth) pack_b_panel<NR>(d, p * NR, std::min(NR, d.N - p * NR), j.KP, j.Bp + int64_t(p) * j.KP * NR);
  if (nth > 1) j.bar->wait();
  const int tasks = j.nRowPan * j.nColBlocks;
  int local = 0;
  for (;;) {
    const int t = nth > 1 ? j.next.fetch_add(1, std::memory_order_relaxed) : local++;
    if (t >= tasks) break;
    run_task(j, t);
  }
}

template <class Kern>
void run(const GemmDesc& d, int nth) {
  nth = effective_threads(nth);
  Job<Kern> j;
  j.d = &d;
  j.KP = (d.K + 1) / 2;
  j.npan = (d.N + Kern::NR - 1) / Kern::NR;
  j.nRowPan = (d.M + Kern::MR - 1) / Kern::MR;
  // split the columns only when there are too few row panels to keep the threads busy
  const int target = 6 * nth;
  j.nColBlocks = nth > 1 && j.nRowPan < target ? std::min(j.npan, (target + j.nRowPan - 1) / j.nRowPan) : 1;
  j.colBlock = (j.npan + j.nColBlocks - 1) / j.nColBlocks;
  j.nColBlocks = (j.npan + j.colBlock - 1) / j.colBlock;
  const size_t bsize = size_t(j.npan) * j.KP * Kern::NR;
  if (t_bpack.size() < bsize) t_bpack.resize(bsize);
  j.Bp = t_bpack.data();
  Barrier bar(nth);
  j.bar = &bar;
  if (nth <= 1) return thread_body(j, 0, 1);
  parallel_run(nth, [](int tid, int n, void* p) { thread_body(*static_cast<Job<Kern>*>(p), tid, n); }, &j);
}

std::atomic<int> g_precision{kFp32};

}  // namespace

bool cpu_has_avx512_bf16() {
#if defined(DN_HAVE_BF16_KERNEL)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

bool set_precision(int p) {
  if (p != kFp32 && p != kBf16 && p != kBf16Emulated) return false;
  if (p == kBf16 && !cpu_has_avx512_bf16()) return false;
  g_precision.store(p, std::memory_order_relaxed);
  return true;
}

int precision() { return g_precision.load(std::memory_order_relaxed); }

void gemm_bf16(const GemmDesc& d, int nth, bool hardware) {
#if defined(DN_HAVE_BF16_KERNEL)
  if (hardware) return run<HardwareKernel>(d, nth);
#else
  (void)hardware;
#endif
  run<EmulatedKernel>(d, nth);
}

}  // namespace dn
