// Persistent thread pool shared by every native kernel (process-wide singleton).
// The caller thread takes part as tid 0, so a pool of N threads starts N-1 workers.
#pragma once
#include <atomic>
#include <cstdint>

namespace dn {

// Number of threads (caller included) kernels may use; defaults to the core count.
int pool_size();
// Resizes the pool (1 = no worker threads). Not to be called while a job runs.
void set_pool_size(int n);

// The number of threads parallel_run(nth, ...) will use: min(nth, pool size), 1 inside a job.
int effective_threads(int nth);

// Runs fn(tid, n, ctx) for tid in [0, n), n = effective_threads(nth), and returns when all are done.
// Nested calls (from inside a job) run inline with n = 1.
void parallel_run(int nth, void (*fn)(int tid, int nth, void* ctx), void* ctx);

// As parallel_run, but only the caller (tid 0) is sure to run fn: a worker that has not joined by the time the
// caller's fn returns is left out (each that joins gets its own tid in [1, n)). For work that any thread may take
// (dynamic chunks): on a loaded machine the caller then never waits for a descheduled worker to wake up, and at
// worst does the whole job itself at one thread's speed.
void parallel_run_any(int nth, void (*fn)(int tid, int nth, void* ctx), void* ctx);

// True while the calling thread executes a pool job.
bool in_parallel_region();

// Spin-then-yield barrier for the threads of one job.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait();

 private:
  int n_;
  std::atomic<int> count_{0};
  std::atomic<uint32_t> phase_{0};
};

// Dynamic loop over [0, count) in chunks, run on up to nth threads.
template <typename F>
void parallel_for(int nth, int64_t count, int64_t chunk, F&& body) {
  if (chunk < 1) chunk = 1;
  const int64_t nchunks = (count + chunk - 1) / chunk;
  if (nth > nchunks) nth = (int)nchunks;
  if (nth <= 1 || in_parallel_region()) {
    if (count > 0) body(int64_t(0), count);
    return;
  }
  struct Ctx {
    F* body;
    int64_t count, chunk;
    std::atomic<int64_t> next{0};
  } ctx{&body, count, chunk};
  parallel_run_any(nth, [](int, int, void* p) {
    Ctx& c = *static_cast<Ctx*>(p);
    for (;;) {
      int64_t i = c.next.fetch_add(1, std::memory_order_relaxed) * c.chunk;
      if (i >= c.count) break;
      int64_t e = i + c.chunk < c.count ? i + c.chunk : c.count;
      (*c.body)(i, e);
    }
  }, &ctx);
}

}  // namespace dn
