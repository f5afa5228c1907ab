// SGEMM after Goto/BLIS (building blocks in gemm_core.h), with three drivers:
//  - single thread: B packed per (k, n) block into L2-sized panels, A per micro-panel (or per block when
//    transposed), the classic loop order;
//  - multi-threaded, small B (forward and input-gradient GEMMs): independent tasks taken from a counter;
//  - multi-threaded, K much larger than M and N (weight gradients x^T dy): K split in chunks taken from a
//    counter, each thread accumulating a private C, reduced at the end.
// The last two avoid barriers inside the k loop: with barriers, a thread descheduled by the OS stalls the
// other, and on a 2-core machine shared with video decoding that halved throughput (measured).
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "gemm_core.h"
#include "precision.h"
#include "threadpool.h"

namespace dn {
namespace {

using namespace gemm_core;

constexpr int64_t B_BLOCK_BYTES = 640 * 1024;       // packed B block of the single-thread driver (L2: 1 MB)
constexpr int64_t B_L2_BYTES = 640 * 1024;          // k-block of B a task sweeps
constexpr int64_t B_PACK_MAX_FLOATS = 4 << 20;      // packed-B super-block budget of the task driver (16 MB)
constexpr int64_t DIRECT_B_MAX_FLOATS = 64 * 1024;  // B read in place (not packed) up to 256 KB
constexpr int TASKS_PER_THREAD = 6;                 // dynamic balance vs per-task overhead
constexpr int RB_TRANS_MAX = 64;                    // row panels packed together when A is transposed
constexpr int MC_TRANS = 1024;                      // rows of a transposed-A block (single-thread driver)
constexpr int DIRECT_A_MAX_PANELS = 12;             // read row-major A in place when few B panels reuse it
constexpr double MT_MIN_FLOPS = 3e6;                // below: one thread beats the wake-up cost
constexpr double BATCH_SERIAL_FLOPS = 16e6;         // per-matrix flops above which batches run one by one
constexpr int SPLITK_MIN_K = 1024;                  // split-K when K >= this and K >= 4 max(M, N)
constexpr int64_t SPLITK_MAX_MN = 1 << 21;          // private C per thread up to 8 MB

int k_step(int K) {
  const int nkb = std::max(1, (K + KC_TARGET - 1) / KC_TARGET);
  return (K + nkb - 1) / nkb;
}

// ---- Single-thread driver ---------------------------------------------------------------------------------

void gemm_single(const GemmDesc& d) {
  const int kcStep = k_step(d.K);
  const int ncMax = std::max(NR, int(B_BLOCK_BYTES / (int64_t(kcStep) * 4)) / NR * NR);
  const int nnb = (d.N + ncMax - 1) / ncMax;
  const int ncStep = ((d.N + nnb - 1) / nnb + NR - 1) / NR * NR;
  float* Bp = t_buf.bBuf(size_t(kcStep) * ncStep);
  float* Ablk = d.transA ? t_buf.aBlk(size_t(kcStep) * ((std::min(d.M, MC_TRANS) + MR - 1) / MR * MR)) : nullptr;
  for (int jc = 0; jc < d.N; jc += ncStep) {
    const int nc = std::min(ncStep, d.N - jc);
    const int npan = (nc + NR - 1) / NR;
    const bool directA = !d.transA && npan <= DIRECT_A_MAX_PANELS;
    for (int pc = 0; pc < d.K; pc += kcStep) {
      const int kc = std::min(kcStep, d.K - pc);
      for (int p = 0; p < npan; p++) pack_b(d, pc, kc, jc + p * NR, std::min(NR, nc - p * NR), Bp + int64_t(p) * kc * NR);
      const Epilogue e{d.alpha, pc == 0 && !d.accumulate, pc + kc >= d.K, d.bias, d.biasLen, d.act};
      for (int ic = 0; ic < d.M; ic += d.transA ? MC_TRANS : d.M) {
        const int mc = std::min(d.transA ? MC_TRANS : d.M, d.M - ic);
        const int nir = (mc + MR - 1) / MR;
        if (d.transA) pack_a_block(d, ic, mc, 0, nir, pc, kc, Ablk);
        for (int ir = 0; ir < nir; ir++) {
          const int i0 = ic + ir * MR, mr = std::min(MR, ic + mc - i0);
          Tile t;
          t.mr = mr;
          t.directA = directA && mr == MR;
          t.ldc = d.ldc;
          t.ldb = NR;
          if (d.transA) {
            t.A = Ablk + int64_t(ir) * kc * MR;
            t.lda = MR;
          } else if (t.directA) {
            t.A = d.A + int64_t(i0) * d.lda + pc;
            t.lda = d.lda;
          } else {
            pack_a(d, i0, mr, pc, kc, t_buf.a);
            t.A = t_buf.a;
            t.lda = MR;
          }
          for (int p = 0; p < npan; p++) {
            t.j0 = jc + p * NR;
            t.nr = std::min(NR, d.N - t.j0);
            t.B = Bp + int64_t(p) * kc * NR;
            t.C = d.C + int64_t(i0) * d.ldc + t.j0;
            run_micro_kernel(kc, t, e);
          }
        }
      }
    }
  }
}

// ---- Multi-threaded driver: independent tasks (row block x column block, whole K) ------------------------
// B is packed once up front (shared, one barrier) or read in place when small; no barrier inside the k loop,
// so a thread the OS deschedules does not stall the other (the machine is shared with ingest and serving).

// One GEMM call: k blocking and how B is read (shared by the threads).
struct Job {
  const GemmDesc* d;
  int kcStep;
  bool directB;  // row-major B whose panels are whole 16-float vectors: read in place, never packed
  float* Bpk;    // packed B of the current super-block: panel p (relative) at Bpk + p*K*NR, B(k, j) at k*NR + j
  Barrier* bar;
  std::atomic<int> next[2];
};

// Task grid of one column super-block (every thread computes the same one: no publication needed).
struct Grid {
  int jcs, ncs, npan;               // columns [jcs, jcs + ncs) in npan NR-panels
  int nRowPan, RB, CB, nRowTasks, nColTasks;
};

// ~TASKS_PER_THREAD tasks per thread; columns are split only when there are too few row panels (each column
// block re-reads or repacks the A rows).
Grid plan_grid(const GemmDesc& d, int jcs, int ncs, int kcStep, int nth) {
  Grid g;
  g.jcs = jcs;
  g.ncs = ncs;
  g.npan = (ncs + NR - 1) / NR;
  g.nRowPan = (d.M + MR - 1) / MR;
  const int target = nth > 1 ? TASKS_PER_THREAD * nth : 1;
  g.RB = std::max(1, (g.nRowPan + target - 1) / target);
  if (d.transA) g.RB = std::min(g.RB, RB_TRANS_MAX);
  g.nRowTasks = (g.nRowPan + g.RB - 1) / g.RB;
  g.nColTasks = 1;
  if (nth > 1 && g.nRowTasks < target) g.nColTasks = std::min(g.npan, (target + g.nRowTasks - 1) / g.nRowTasks);
  g.CB = (g.npan + g.nColTasks - 1) / g.nColTasks;
  g.CB = std::min(g.CB, std::max(1, int(B_L2_BYTES / (int64_t(kcStep) * NR * 4))));
  g.nColTasks = (g.npan + g.CB - 1) / g.CB;
  return g;
}

// C[row panels q0..q1, column panels p0..p1] over the whole K: the k-block of B they use stays in L2 while
// the task walks its row panels.
void run_task(const Job& j, const Grid& g, int task) {
  const GemmDesc& d = *j.d;
  const int q0 = (task / g.nColTasks) * g.RB, q1 = std::min(g.nRowPan, q0 + g.RB);
  const int p0 = (task % g.nColTasks) * g.CB, p1 = std::min(g.npan, p0 + g.CB);
  const bool directA = !d.transA && (p1 - p0) <= DIRECT_A_MAX_PANELS;
  float* Ablk = d.transA ? t_buf.aBlk(size_t(RB_TRANS_MAX) * MR * KC_MAX) : nullptr;
  for (int pc = 0; pc < d.K; pc += j.kcStep) {
    const int kc = std::min(j.kcStep, d.K - pc);
    const Epilogue e{d.alpha, pc == 0 && !d.accumulate, pc + kc >= d.K, d.bias, d.biasLen, d.act};
    if (d.transA) {
      const int ic = q0 * MR;
      pack_a_block(d, ic, std::min(d.M - ic, (q1 - q0) * MR), 0, q1 - q0, pc, kc, Ablk);
    }
    for (int q = q0; q < q1; q++) {
      const int i0 = q * MR, mr = std::min(MR, d.M - i0);
      Tile t;
      t.mr = mr;
      t.directA = directA && mr == MR;
      if (d.transA) {
        t.A = Ablk + int64_t(q - q0) * kc * MR;
        t.lda = MR;
      } else if (t.directA) {
        t.A = d.A + int64_t(i0) * d.lda + pc;
        t.lda = d.lda;
      } else {
        pack_a(d, i0, mr, pc, kc, t_buf.a);
        t.A = t_buf.a;
        t.lda = MR;
      }
      t.ldc = d.ldc;
      for (int p = p0; p < p1; p++) {
        t.j0 = g.jcs + p * NR;
        t.nr = std::min(NR, d.N - t.j0);
        t.C = d.C + int64_t(i0) * d.ldc + t.j0;
        if (j.directB) {
          t.B = d.B + int64_t(pc) * d.ldb + t.j0;
          t.ldb = d.ldb;
        } else {
          t.B = j.Bpk + int64_t(p) * d.K * NR + int64_t(pc) * NR;
          t.ldb = NR;
        }
        run_micro_kernel(kc, t, e);
      }
    }
  }
}

// Column super-block width: everything when B is read in place, else what B_PACK_MAX_FLOATS of packed B holds.
int super_block(const GemmDesc& d, bool directB) {
  return directB ? d.N : std::max(NR, int(B_PACK_MAX_FLOATS / std::max(1, d.K)) / NR * NR);
}

void tasks_thread(Job& j, int tid, int nth) {
  const GemmDesc& d = *j.d;
  const int ncsMax = super_block(d, j.directB);
  int round = 0;
  for (int jcs = 0; jcs < d.N; jcs += ncsMax, round++) {
    if (round > 0 && nth > 1) {
      if (tid == 0) j.next[round & 1].store(0, std::memory_order_relaxed);
      j.bar->wait();  // the previous super-block's tasks (and its packed B) are done
    }
    const Grid g = plan_grid(d, jcs, std::min(ncsMax, d.N - jcs), j.kcStep, nth);
    if (!j.directB) {
      for (int p = tid; p < g.npan; p += nth)
        pack_b(d, 0, d.K, jcs + p * NR, std::min(NR, g.ncs - p * NR), j.Bpk + int64_t(p) * d.K * NR);
      if (nth > 1) j.bar->wait();
    }
    const int tasks = g.nRowTasks * g.nColTasks;
    std::atomic<int>& next = j.next[round & 1];
    int local = 0;
    for (;;) {
      const int t = nth > 1 ? next.fetch_add(1, std::memory_order_relaxed) : local++;
      if (t >= tasks) break;
      run_task(j, g, t);
    }
  }
}

void gemm_tasks(const GemmDesc& d, int nth) {
  Job j;
  j.d = &d;
  j.kcStep = k_step(d.K);
  // Reading B in place saves the packing but its rows are ldb apart: with ldb a multiple of 256 floats, a
  // panel's lines fall in a few L1 sets and thrash. Only small B (e.g. attention's V) is read in place.
  j.directB = !d.transB && d.N % kVL == 0 && int64_t(d.K) * d.N <= DIRECT_B_MAX_FLOATS;
  j.next[0] = 0;
  j.next[1] = 0;
  j.Bpk = nullptr;
  if (!j.directB) {
    const int ncs = std::min(super_block(d, false), (d.N + NR - 1) / NR * NR);
    j.Bpk = t_buf.bBuf(size_t(d.K) * ncs);
  }
  Barrier bar(nth);
  j.bar = &bar;
  parallel_run(nth, [](int tid, int n, void* p) { tasks_thread(*static_cast<Job*>(p), tid, n); }, &j);
}

// ---- Multi-threaded split-K driver (weight gradients) -------------------------------------------------------

struct SplitK {
  const GemmDesc* d;
  int chunk, nChunks;
  std::atomic<int> next{0};
  Barrier* bar;
  std::vector<float*> partial;  // per thread: private M x N sum of its chunks (nullptr: no chunk taken)
};

void splitk_thread(SplitK& s, int tid, int nth) {
  const GemmDesc& d = *s.d;
  float* P = nullptr;
  for (;;) {
    const int c = s.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= s.nChunks) break;
    const int k0 = c * s.chunk;
    GemmDesc cd = d;
    cd.K = std::min(s.chunk, d.K - k0);
    cd.A = d.transA ? d.A + int64_t(k0) * d.lda : d.A + k0;
    cd.B = d.transB ? d.B + k0 : d.B + int64_t(k0) * d.ldb;
    cd.alpha = 1.0f;
    cd.bias = nullptr;
    cd.act = kLinear;
    cd.ldc = d.N;
    cd.accumulate = P != nullptr;
    if (!P) P = t_buf.cBuf(size_t(d.M) * d.N);
    cd.C = P;
    gemm_single(cd);
  }
  s.partial[tid] = P;
  s.bar->wait();
  // C = act(alpha * sum of partials (+ C) + bias), rows split between the threads.
  const int r0 = int(int64_t(d.M) * tid / nth), r1 = int(int64_t(d.M) * (tid + 1) / nth);
  for (int i = r0; i < r1; i++) {
    float* c = d.C + int64_t(i) * d.ldc;
    int j = 0;
    for (; j < d.N; j += kVL) {
      const int n = std::min(kVL, d.N - j);
      vf acc = vzero();
      for (int t = 0; t < nth; t++)
        if (s.partial[t]) acc += n == kVL ? vloadu(s.partial[t] + int64_t(i) * d.N + j) : vload_part(s.partial[t] + int64_t(i) * d.N + j, n);
      vf r = acc * d.alpha;
      if (d.accumulate) r += n == kVL ? vloadu(c + j) : vload_part(c + j, n);
      if (d.bias) r += d.biasLen == 1 ? vset1(d.bias[0]) : (n == kVL ? vloadu(d.bias + j) : vload_part(d.bias + j, n));
      if (d.act == kRelu) r = vmax(r, vzero());
      if (n == kVL) vstoreu(c + j, r);
      else vstore_part(c + j, r, n);
    }
  }
}

void gemm_splitk(const GemmDesc& d, int nth) {
  SplitK s;
  s.d = &d;
  const int kcStep = k_step(d.K);
  // ~4 chunks per thread, whole k-blocks each.
  const int blocks = (d.K + kcStep - 1) / kcStep;
  const int chunkBlocks = std::max(1, blocks / (4 * nth));
  s.chunk = chunkBlocks * kcStep;
  s.nChunks = (d.K + s.chunk - 1) / s.chunk;
  s.partial.assign(nth, nullptr);
  Barrier bar(nth);
  s.bar = &bar;
  parallel_run(nth, [](int tid, int n, void* p) { splitk_thread(*static_cast<SplitK*>(p), tid, n); }, &s);
}

int threads_for(double flops, int maxThreads) {
  int nth = std::min(maxThreads, pool_size());
  const int byWork = int(flops / MT_MIN_FLOPS);
  return std::max(1, std::min(nth, byWork));
}

void gemm_dispatch(const GemmDesc& d, int nth) {
  nth = effective_threads(nth);  // the barriers below are sized for exactly the threads that will run
  if (nth <= 1) return gemm_single(d);
  const bool splitK = d.K >= SPLITK_MIN_K && d.K >= 4 * std::max(d.M, d.N) && int64_t(d.M) * d.N <= SPLITK_MAX_MN;
  if (splitK) return gemm_splitk(d, nth);
  gemm_tasks(d, nth);
}

}  // namespace

void gemm(const GemmDesc& d, int maxThreads) {
  if (d.M <= 0 || d.N <= 0) return;
  if (d.K <= 0) {
    // Degenerate: C = act(bias) (or C unchanged + epilogue when accumulating).
    for (int i = 0; i < d.M; i++)
      for (int j = 0; j < d.N; j++) {
        const Epilogue e{d.alpha, !d.accumulate, true, d.bias, d.biasLen, d.act};
        finish_scalar(d.C[i * d.ldc + j], 0.0f, e, j);
      }
    return;
  }
  const double flops = 2.0 * d.M * d.N * d.K;
  const int nth = in_parallel_region() ? 1 : threads_for(flops, maxThreads);
  const int prec = precision();
  if (prec != kFp32) return gemm_bf16(d, nth, prec == kBf16);
  gemm_dispatch(d, nth);
}

void gemm_batched(const GemmDesc& d0, int batch, int64_t sA, int64_t sB, int64_t sC, int maxThreads) {
  if (batch <= 0) return;
  if (batch == 1) return gemm(d0, maxThreads);
  // B shared and A rows contiguous across batches: one tall GEMM.
  if (sB == 0 && !d0.transA && sA == int64_t(d0.M) * d0.lda && sC == int64_t(d0.M) * d0.ldc) {
    GemmDesc d = d0;
    d.M = d0.M * batch;
    return gemm(d, maxThreads);
  }
  const double flops = 2.0 * d0.M * d0.N * d0.K;
  auto one = [&](int64_t b, int nth) {
    GemmDesc d = d0;
    d.A = d0.A + b * sA;
    d.B = d0.B + b * sB;
    d.C = d0.C + b * sC;
    gemm(d, nth);
  };
  if (flops >= BATCH_SERIAL_FLOPS || in_parallel_region()) {
    for (int b = 0; b < batch; b++) one(b, maxThreads);
    return;
  }
  const int nth = threads_for(flops * batch, maxThreads);
  parallel_for(nth, batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) one(b, 1);
  });
}

}  // namespace dn
