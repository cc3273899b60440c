#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define TF_POOL_PAUSE() _mm_pause()
#else
#define TF_POOL_PAUSE() ((void)0)
#endif

namespace tf {
namespace {

thread_local bool t_in_region = false;

struct Job {
  const RangeFn* fn = nullptr;
  int64_t begin = 0, end = 0, chunk = 1, nchunks = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::exception_ptr error;
  std::mutex error_mu;

  // Runs chunks until none are left; returns how many this thread ran.
  void work() {
    for (;;) {
      int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= nchunks) return;
      int64_t b = begin + c * chunk;
      int64_t e = std::min(end, b + chunk);
      try {
        (*fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  }
};

class Pool {
 public:
  Pool() { start(default_threads()); }
  ~Pool() { stop(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    n = std::clamp(n, 1, 1024);
    std::lock_guard<std::mutex> run(run_mu_);
    if (n == nthreads_) return;
    stop();
    start(n);
  }

  void run(int64_t begin, int64_t end, int64_t grain, const RangeFn& fn) {
    if (end <= begin) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t n = end - begin;
    if (t_in_region || nthreads_ == 1 || n <= grain) {
      fn(begin, end);
      return;
    }
    std::lock_guard<std::mutex> run(run_mu_);
    // Several chunks per thread balance uneven work; never smaller than the grain.
    int64_t target = static_cast<int64_t>(nthreads_) * 4;
    int64_t chunk = std::max(grain, (n + target - 1) / target);
    Job job;
    job.fn = &fn;
    job.begin = begin;
    job.end = end;
    job.chunk = chunk;
    job.nchunks = (n + chunk - 1) / chunk;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &job;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();
    t_in_region = true;
    job.work();
    t_in_region = false;
    // Wait for the chunks other threads took, then for every worker to leave the job.
    while (job.done.load(std::memory_order_acquire) < job.nchunks) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = nullptr;  // no worker joins from here on
    }
    // A worker leaves right after its last chunk: watch for that briefly rather than sleep on idle_cv_ (this thread
    // sees the last chunk done just before the worker decrements active_, and a condition-variable wake-up costs
    // tens of µs on a VM).
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(60);
    while (active_.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 32; ++i) TF_POOL_PAUSE();
      std::this_thread::yield();  // a descheduled worker may need this core
    }
    if (active_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lk(mu_);
      idle_cv_.wait(lk, [&] { return active_.load(std::memory_order_acquire) == 0; });
    }
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  static int default_threads() {
    if (const char* env = std::getenv("TURBOFORMER_NUM_THREADS")) {
      char* endp = nullptr;
      long v = std::strtol(env, &endp, 10);
      if (endp != env && *endp == '\0' && v >= 1) return static_cast<int>(std::min<long>(v, 1024));
    }
    return hardware_threads();
  }

  void start(int n) {
    nthreads_ = n;
    quit_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { loop(); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void loop() {
    t_in_region = true;  // nested parallel_for inside a worker runs inline
    uint64_t seen = 0;
    for (;;) {
      spin_for_job(seen);
      Job* job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        if (!quit_ && generation_ != seen && job_ == nullptr) {  // a job this worker missed: spin for the next
          seen = generation_;
          continue;
        }
        cv_.wait(lk, [&] { return quit_ || (generation_ != seen && job_ != nullptr); });
        if (quit_) return;
        seen = generation_;
        job = job_;
        active_.fetch_add(1, std::memory_order_relaxed);  // under mu_, while job_ is set
      }
      job->work();
      {
        std::lock_guard<std::mutex> lk(mu_);
        active_.fetch_sub(1, std::memory_order_release);  // under mu_: idle_cv_'s waiter cannot miss it
      }
      idle_cv_.notify_all();
    }
  }

  // A worker that just finished a job watches for the next one for a short while before it blocks on cv_: a
  // condition-variable wake-up costs tens of µs on a VM, which made a second thread slower than one for calls of
  // that size (a token step of a recurrent model is ~10-30 µs). The spin is bounded, so an idle pool sleeps.
  void spin_for_job(uint64_t seen) const {
    constexpr auto kSpin = std::chrono::microseconds(60);
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (published_.load(std::memory_order_acquire) == seen) {
      for (int i = 0; i < 32; ++i) TF_POOL_PAUSE();
      if (std::chrono::steady_clock::now() >= until) return;
      std::this_thread::yield();  // a busy machine's other threads go first
    }
  }

  std::atomic<uint64_t> published_{0};  // generation_, readable without mu_ (for the spin)
  std::mutex run_mu_;  // one region at a time
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::vector<std::thread> workers_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  std::atomic<int> active_{0};  // workers inside the current job
  int nthreads_ = 1;
  bool quit_ = false;
};

Pool& pool() {
  // Leaked on purpose: worker threads must not be joined from static destructors at process exit.
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int hardware_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }
void parallel_for(int64_t begin, int64_t end, int64_t grain, const RangeFn& fn) { pool().run(begin, end, grain, fn); }

}  // namespace tf
