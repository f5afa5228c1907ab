#include "threadpool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace dn {
namespace {

inline void cpu_relax() { _mm_pause(); }

// Workers spin this long after a job before sleeping on a futex: kernels of one training step come back to
// back, and a futex wake costs ~10-50 us. DINO_NATIVE_SPIN_US overrides (0: sleep at once, e.g. when decoding
// processes need the cores more than the kernels need the latency).
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* v = std::getenv("DINO_NATIVE_SPIN_US");
    return std::chrono::microseconds(v && *v ? std::max(0L, std::strtol(v, nullptr, 10)) : 200L);
  }();
  return t;
}

thread_local bool t_in_job = false;

// `generation` packs a job counter (high 24 bits) with the job's thread count (low 8 bits). A worker that sees a
// new generation joins the job through `slot` (the job's generation, a closed bit, the number joined): the join
// succeeds only while the slot still names that job, is open and has room, so fn/ctx (published before the slot)
// are read only by participants, and the caller, which waits for every participant, cannot move on to the next job
// while one still runs. parallel_run waits until all nth - 1 workers have joined; parallel_run_any closes the slot
// when its own share is done and waits only for those that joined.
constexpr uint64_t kClosed = 1ull << 31;
constexpr uint64_t kJoinedMask = kClosed - 1;

struct Pool {
  std::vector<std::thread> threads;
  std::atomic<uint32_t> generation{0};
  std::atomic<uint64_t> slot{0};
  std::atomic<int> done{0};
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  void (*fn)(int, int, void*) = nullptr;
  void* ctx = nullptr;
  int size = 1;
  std::mutex run_mutex;  // one job at a time (N-API calls come from the main thread anyway)

  // `seen` starts at the generation current when the thread was created: a resized pool must not run the
  // previous job again.
  void worker(uint32_t seen) {
    for (;;) {
      uint32_t g = generation.load(std::memory_order_acquire);
      if (g == seen) {
        auto t0 = std::chrono::steady_clock::now();
        int spins = 0;
        while ((g = generation.load(std::memory_order_acquire)) == seen) {
          cpu_relax();
          if (++spins == 256) {
            spins = 0;
            if (std::chrono::steady_clock::now() - t0 > spin_time()) {
              sleepers.fetch_add(1, std::memory_order_seq_cst);
              generation.wait(seen, std::memory_order_seq_cst);
              sleepers.fetch_sub(1, std::memory_order_seq_cst);
              t0 = std::chrono::steady_clock::now();
            }
          }
        }
      }
      seen = g;
      if (stop.load(std::memory_order_acquire)) return;
      const int nth = int(g & 0xff);
      uint64_t s = slot.load(std::memory_order_acquire);
      while (uint32_t(s >> 32) == g && !(s & kClosed) && int(s & kJoinedMask) < nth - 1) {
        if (slot.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
          t_in_job = true;
          fn(int(s & kJoinedMask) + 1, nth, ctx);
          t_in_job = false;
          done.fetch_add(1, std::memory_order_acq_rel);
          break;
        }
      }
    }
  }

  // Publishes a job of nth threads (caller included) and wakes the workers.
  void publish(int nth, void (*f)(int, int, void*), void* c) {
    fn = f;
    ctx = c;
    done.store(0, std::memory_order_relaxed);
    const uint32_t g = ((generation.load(std::memory_order_relaxed) >> 8) + 1) << 8 | uint32_t(nth);
    slot.store(uint64_t(g) << 32, std::memory_order_release);
    generation.store(g, std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) > 0) generation.notify_all();
  }

  void wait_done(int joined) {
    int spins = 0;
    while (done.load(std::memory_order_acquire) < joined) {
      cpu_relax();
      if (++spins > 4096) sched_yield();  // a worker may be descheduled: let it run
    }
  }

  void start(int n) {
    size = n < 1 ? 1 : n;
    stop = false;
    const uint32_t g0 = generation.load(std::memory_order_acquire);
    for (int t = 1; t < size; t++) threads.emplace_back([this, g0] { worker(g0); });
  }

  void shutdown() {
    if (threads.empty()) return;
    stop.store(true, std::memory_order_release);
    generation.fetch_add(0x100, std::memory_order_acq_rel);
    generation.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
  }

  ~Pool() { shutdown(); }
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();  // leaked on purpose: no join at static destruction time
    unsigned hc = std::thread::hardware_concurrency();
    q->start(hc ? std::min<int>(int(hc), 255) : 1);
    return q;
  }();
  return *p;
}

}  // namespace

int pool_size() { return pool().size; }

void set_pool_size(int n) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.run_mutex);
  if (n < 1) n = 1;
  if (n > 255) n = 255;
  if (n == p.size) return;
  p.shutdown();
  p.start(n);
}

bool in_parallel_region() { return t_in_job; }

int effective_threads(int nth) {
  if (nth <= 1 || t_in_job) return 1;
  return std::min(nth, pool().size);
}

// any: workers join while the job is open and the caller waits only for those that joined (work any thread may
// take); otherwise every worker of nth takes its own share and the caller waits for all of them.
static void run_job(int nth, void (*fn)(int, int, void*), void* ctx, bool any) {
  Pool& p = pool();
  if (nth > p.size) nth = p.size;
  if (nth <= 1 || t_in_job) {
    fn(0, 1, ctx);
    return;
  }
  std::lock_guard<std::mutex> lock(p.run_mutex);
  p.publish(nth, fn, ctx);
  t_in_job = true;
  fn(0, nth, ctx);
  t_in_job = false;
  if (!any) return p.wait_done(nth - 1);
  const uint64_t s = p.slot.fetch_or(kClosed, std::memory_order_acq_rel);
  p.wait_done(int(s & kJoinedMask));
}

void parallel_run(int nth, void (*fn)(int, int, void*), void* ctx) { run_job(nth, fn, ctx, false); }

void parallel_run_any(int nth, void (*fn)(int, int, void*), void* ctx) { run_job(nth, fn, ctx, true); }

void Barrier::wait() {
  const uint32_t ph = phase_.load(std::memory_order_acquire);
  if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    count_.store(0, std::memory_order_relaxed);
    phase_.store(ph + 1, std::memory_order_release);
    return;
  }
  int spins = 0;
  while (phase_.load(std::memory_order_acquire) == ph) {
    cpu_relax();
    if (++spins > 4096) sched_yield();
  }
}

}  // namespace dn
