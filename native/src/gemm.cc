// SGEMM after Goto/BLIS (building blocks in gemm_core.h), with three drivers:
//  - single thread: B packed per (k, n) block into L2-sized panels, A per micro-panel (or per block when
//    transposed), the classic loop order;
//  - multi-threaded, small B (forward and input-gradient GEMMs): independent tasks taken from a counter;
//  - multi-threaded, K much larger than M and N (weight gradients x^T dy): K split in chunks taken from a
//    counter, each thread accumulating a private C, reduced at the end.
// The last two have no barriers among a fixed set of threads: work is taken from counters and a thread that has
// not joined (asleep, descheduled) is not waited for (parallel_run_any). Barriers halved throughput on a 2-core
// machine shared with video decoding (measured).
#include "gemm.h"

#include <immintrin.h>
#include <sched.h>

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

const GemmDesc* extras(const GemmDesc& d) { return d.has_extras() ? &d : nullptr; }

// colSum[j] += sum over k of B(k, j) (B not transposed), for the drivers that read B in place.
void add_col_sums(const GemmDesc& d, float* colSum) {
  for (int k = 0; k < d.K; k++) {
    const float* row = d.B + int64_t(k) * d.ldb;
    int j = 0;
    for (; j + kVL <= d.N; j += kVL) vstoreu(colSum + j, vloadu(colSum + j) + vloadu(row + j));
    for (; j < d.N; j++) colSum[j] += row[j];
  }
}

int k_step(int K) {
  const int nkb = std::max(1, (K + KC_TARGET - 1) / KC_TARGET);
  return (K + nkb - 1) / nkb;
}

// Where a tile's rows of A are read from: row panel `panel` of the packed block of a transposed A, A in place when
// its rows are whole, or packed here into this thread's buffer.
void set_tile_a(Tile& t, const GemmDesc& d, const float* Ablk, int panel, int pc, int kc) {
  if (d.transA) {
    t.A = Ablk + int64_t(panel) * kc * MR;
    t.lda = MR;
  } else if (t.directA) {
    t.A = d.A + int64_t(t.i0) * d.lda + pc;
    t.lda = d.lda;
  } else {
    pack_a(d, t.i0, t.mr, pc, kc, t_buf.a);
    t.A = t_buf.a;
    t.lda = MR;
  }
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
      const Epilogue e{d.alpha, pc == 0 && !d.accumulate, pc + kc >= d.K, d.bias, d.biasLen, d.act, extras(d)};
      for (int ic = 0; ic < d.M; ic += d.transA ? MC_TRANS : d.M) {
        const int mc = std::min(d.transA ? MC_TRANS : d.M, d.M - ic);
        const int nir = (mc + MR - 1) / MR;
        if (d.transA) pack_a_block(d, ic, mc, 0, nir, pc, kc, Ablk);
        for (int ir = 0; ir < nir; ir++) {
          const int i0 = ic + ir * MR, mr = std::min(MR, ic + mc - i0);
          Tile t;
          t.mr = mr;
          t.i0 = i0;
          t.directA = directA && mr == MR;
          t.ldc = d.ldc;
          t.ldb = NR;
          set_tile_a(t, d, Ablk, ir, pc, kc);
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

// Progress of one column super-block, shared by the threads: packed-B panels and tasks are taken from counters,
// so any thread (one that joins late included) can do any of them, and "all panels packed" / "all tasks done"
// are counts, not barriers among a fixed set of threads.
struct Round {
  std::atomic<int> nextPanel{0}, panelsDone{0}, nextTask{0}, tasksDone{0};
};

// One GEMM call: k blocking and how B is read (shared by the threads).
struct Job {
  const GemmDesc* d;
  int kcStep;
  bool directB;  // row-major B whose panels are whole 16-float vectors: read in place, never packed
  float* Bpk;    // packed B of the current super-block: panel p (relative) at Bpk + p*K*NR, B(k, j) at k*NR + j
  Round* rounds;
};

// Spins (yielding after a while: the thread that holds the work may be descheduled) until n >= target.
void wait_count(const std::atomic<int>& n, int target) {
  int spins = 0;
  while (n.load(std::memory_order_acquire) < target) {
    _mm_pause();
    if (++spins > 4096) sched_yield();
  }
}

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
    const Epilogue e{d.alpha, pc == 0 && !d.accumulate, pc + kc >= d.K, d.bias, d.biasLen, d.act, extras(d)};
    if (d.transA) {
      const int ic = q0 * MR;
      pack_a_block(d, ic, std::min(d.M - ic, (q1 - q0) * MR), 0, q1 - q0, pc, kc, Ablk);
    }
    for (int q = q0; q < q1; q++) {
      const int i0 = q * MR, mr = std::min(MR, d.M - i0);
      Tile t;
      t.mr = mr;
      t.i0 = i0;
      t.directA = directA && mr == MR;
      set_tile_a(t, d, Ablk, q - q0, pc, kc);
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
int super_block(const GemmDesc& d, bool directB);

// The number of tasks of super-block `round` (every thread plans the same grid).
int tasks_of(const GemmDesc& d, int ncsMax, int round, int kcStep, int nth) {
  const int jcs = round * ncsMax;
  const Grid g = plan_grid(d, jcs, std::min(ncsMax, d.N - jcs), kcStep, nth);
  return g.nRowTasks * g.nColTasks;
}

// Column super-block width: everything when B is read in place, else what B_PACK_MAX_FLOATS of packed B holds.
int super_block(const GemmDesc& d, bool directB) {
  return directB ? d.N : std::max(NR, int(B_PACK_MAX_FLOATS / std::max(1, d.K)) / NR * NR);
}

void tasks_thread(Job& j, int nth) {
  const GemmDesc& d = *j.d;
  const int ncsMax = super_block(d, j.directB);
  int round = 0;
  for (int jcs = 0; jcs < d.N; jcs += ncsMax, round++) {
    const Grid g = plan_grid(d, jcs, std::min(ncsMax, d.N - jcs), j.kcStep, nth);
    const int tasks = g.nRowTasks * g.nColTasks;
    Round& r = j.rounds[round];
    if (!j.directB) {
      if (round > 0) wait_count(j.rounds[round - 1].tasksDone, tasks_of(d, ncsMax, round - 1, j.kcStep, nth));  // Bpk is reused
      for (;;) {
        const int p = r.nextPanel.fetch_add(1, std::memory_order_relaxed);
        if (p >= g.npan) break;
        pack_b(d, 0, d.K, jcs + p * NR, std::min(NR, g.ncs - p * NR), j.Bpk + int64_t(p) * d.K * NR);
        r.panelsDone.fetch_add(1, std::memory_order_release);
      }
      wait_count(r.panelsDone, g.npan);
    }
    for (;;) {
      const int t = r.nextTask.fetch_add(1, std::memory_order_relaxed);
      if (t >= tasks) break;
      run_task(j, g, t);
      r.tasksDone.fetch_add(1, std::memory_order_release);
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
  j.Bpk = nullptr;
  const int ncsMax = super_block(d, j.directB);
  if (!j.directB) {
    const int ncs = std::min(ncsMax, (d.N + NR - 1) / NR * NR);
    j.Bpk = t_buf.bBuf(size_t(d.K) * ncs);
  }
  std::vector<Round> rounds((d.N + ncsMax - 1) / ncsMax);
  j.rounds = rounds.data();
  if (j.directB && d.colSumB) add_col_sums(d, d.colSumB);  // B is not packed: summed on its own
  nth = effective_threads(nth);
  if (nth <= 1) return tasks_thread(j, 1);
  parallel_run_any(nth, [](int, int n, void* p) { tasks_thread(*static_cast<Job*>(p), n); }, &j);
}

// ---- Multi-threaded split-K driver (weight gradients) -------------------------------------------------------

struct SplitK {
  const GemmDesc* d;
  int chunk, nChunks, rowsPerTask;
  std::atomic<int> next{0}, chunksDone{0}, nextRow{0};
  std::vector<float*> partial;  // per thread: private M x N sum of its chunks (nullptr: no chunk taken)
  std::vector<float*> colSum;   // per thread: its chunks' column sums of B, when asked
};

thread_local std::vector<float> t_colsum;

// K chunks and then row blocks of the final pass are taken from counters, so any thread that joins can help and
// none waits for one that never came; a thread publishes its partial before computing into it, and the final pass
// reads the partials only once every chunk is done.
void splitk_thread(SplitK& s, int tid) {
  const GemmDesc& d = *s.d;
  float* P = nullptr;
  float* cs = nullptr;
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
    cd.geluGrad = nullptr;
    cd.residual = nullptr;
    cd.mul = nullptr;
    cd.ldc = d.N;
    cd.accumulate = P != nullptr;
    if (!P) {
      P = t_buf.cBuf(size_t(d.M) * d.N);
      s.partial[tid] = P;
      if (d.colSumB) {
        t_colsum.assign(size_t(d.N), 0.0f);
        cs = t_colsum.data();
        s.colSum[tid] = cs;
      }
    }
    cd.colSumB = cs;
    cd.C = P;
    gemm_single(cd);
    s.chunksDone.fetch_add(1, std::memory_order_release);
  }
  wait_count(s.chunksDone, s.nChunks);
  // C = final(alpha * sum of partials (+ C)), row blocks taken from a counter.
  const Epilogue e{d.alpha, true, true, d.bias, d.biasLen, d.act, extras(d)};
  const int nParts = int(s.partial.size());
  for (;;) {
    const int r0 = s.nextRow.fetch_add(s.rowsPerTask, std::memory_order_relaxed);
    if (r0 >= d.M) break;
    const int r1 = std::min(d.M, r0 + s.rowsPerTask);
    for (int i = r0; i < r1; i++) {
      float* c = d.C + int64_t(i) * d.ldc;
      for (int j = 0; j < d.N; j += kVL) {
        const int n = std::min(kVL, d.N - j);
        vf acc = vzero();
        for (int t = 0; t < nParts; t++)
          if (s.partial[t]) acc += n == kVL ? vloadu(s.partial[t] + int64_t(i) * d.N + j) : vload_part(s.partial[t] + int64_t(i) * d.N + j, n);
        vf r = acc * d.alpha;
        if (d.accumulate) r += n == kVL ? vloadu(c + j) : vload_part(c + j, n);
        r = finish_final(r, i, j, n, e);
        if (n == kVL) vstoreu(c + j, r);
        else vstore_part(c + j, r, n);
      }
    }
  }
}

void gemm_splitk(const GemmDesc& d, int nth) {
  nth = effective_threads(nth);
  SplitK s;
  s.d = &d;
  const int kcStep = k_step(d.K);
  // ~4 chunks per thread, whole k-blocks each.
  const int blocks = (d.K + kcStep - 1) / kcStep;
  const int chunkBlocks = std::max(1, blocks / (4 * nth));
  s.chunk = chunkBlocks * kcStep;
  s.nChunks = (d.K + s.chunk - 1) / s.chunk;
  s.rowsPerTask = std::max(1, int(16384 / std::max(1, d.N)));
  s.partial.assign(nth, nullptr);
  s.colSum.assign(nth, nullptr);
  parallel_run_any(nth, [](int tid, int, void* p) { splitk_thread(*static_cast<SplitK*>(p), tid); }, &s);
  if (d.colSumB) {
    for (int j = 0; j < d.N; j++) {
      float t = 0.0f;
      for (float* cs : s.colSum)
        if (cs) t += cs[j];
      d.colSumB[j] = t;
    }
  }
}

int threads_for(double flops, int maxThreads) {
  int nth = std::min(maxThreads, pool_size());
  const int byWork = int(flops / MT_MIN_FLOPS);
  return std::max(1, std::min(nth, byWork));
}

void gemm_dispatch(const GemmDesc& d, int nth) {
  nth = effective_threads(nth);  // the drivers plan their tasks for this many threads
  if (nth <= 1) return gemm_single(d);
  const bool splitK = d.K >= SPLITK_MIN_K && d.K >= 4 * std::max(d.M, d.N) && int64_t(d.M) * d.N <= SPLITK_MAX_MN;
  if (splitK) return gemm_splitk(d, nth);
  gemm_tasks(d, nth);
}

// The final pass's extras over a C already holding act-free bias-added values (bf16 path): act, residual, mul.
void apply_extras(const GemmDesc& d) {
  const Epilogue e{1.0f, true, true, nullptr, 0, d.act, &d};
  parallel_for(pool_size(), d.M, std::max(1, 16384 / std::max(1, d.N)), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; i++) {
      float* c = d.C + i * d.ldc;
      for (int j = 0; j < d.N; j += kVL) {
        const int n = std::min(kVL, d.N - j);
        const vf r = finish_final(n == kVL ? vloadu(c + j) : vload_part(c + j, n), i, j, n, e);
        if (n == kVL) vstoreu(c + j, r);
        else vstore_part(c + j, r, n);
      }
    }
  });
}

// colSumB when B is transposed (B(k, j) = B[j*ldb + k]): row sums.
void row_sums_transposed(const GemmDesc& d) {
  for (int j = 0; j < d.N; j++) {
    const float* row = d.B + int64_t(j) * d.ldb;
    vf acc = vzero();
    int k = 0;
    for (; k + kVL <= d.K; k += kVL) acc += vloadu(row + k);
    float t = vsum(acc);
    for (; k < d.K; k++) t += row[k];
    d.colSumB[j] = t;
  }
}

}  // namespace

void gemm(const GemmDesc& d0, int maxThreads) {
  if (d0.M <= 0 || d0.N <= 0) return;
  GemmDesc d = d0;
  if (d.colSumB) {
    std::fill(d.colSumB, d.colSumB + d.N, 0.0f);
    if (d.transB || d.K <= 0) {
      if (d.K > 0) row_sums_transposed(d);
      d.colSumB = nullptr;
    }
  }
  if (d.K <= 0) {
    // Degenerate: C = final(0 or C).
    const Epilogue e{d.alpha, !d.accumulate, true, d.bias, d.biasLen, d.act, extras(d)};
    for (int i = 0; i < d.M; i++)
      for (int j = 0; j < d.N; j += kVL) {
        const int n = std::min(kVL, d.N - j);
        float* c = d.C + int64_t(i) * d.ldc + j;
        vf r = vzero();
        if (d.accumulate) r = vload_part(c, n);
        vstore_part(c, finish_final(r, i, j, n, e), n);
      }
    return;
  }
  const double flops = 2.0 * d.M * d.N * d.K;
  const int nth = in_parallel_region() ? 1 : threads_for(flops, maxThreads);
  const int prec = precision();
  if (prec != kFp32) {
    // the bf16 kernels apply bias and relu; the column sums and GELU / residual / mul follow in their own passes
    if (d.colSumB) add_col_sums(d, d.colSumB);
    GemmDesc b = d;
    b.colSumB = nullptr;
    b.geluGrad = nullptr;
    b.residual = nullptr;
    b.mul = nullptr;
    if (d.act == kGelu) b.act = kLinear;
    gemm_bf16(b, nth, prec == kBf16);
    if (d.has_extras() || d.act == kGelu) apply_extras(d);
    return;
  }
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
