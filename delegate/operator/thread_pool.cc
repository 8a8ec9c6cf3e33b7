#include "delegate/operator/thread_pool.h"

#include <chrono>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#if defined(__linux__)
#include <pthread.h>
#endif

namespace actsparse {
namespace {

constexpr int kIndexBits = 24;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
constexpr uint64_t kGenerationMask = ~uint64_t{0} >> kIndexBits;
// Longest anyone spins before sleeping anyway: a held worker (a guard
// against a caller that holds the workers and then does something slow) and
// the caller waiting for the workers' last tasks (a guard against a worker
// the OS has descheduled).
constexpr std::chrono::microseconds kMaxSpin{200};

// Tells the core that this is a spin loop, so it spends less power and
// yields pipeline resources.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

// Spins until done() is true (returns true) or kMaxSpin has passed (false).
template <typename Done>
bool SpinUntil(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kMaxSpin;
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    // Reading the clock costs ~20 ns; every 64th pause is often enough.
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return false;
    CpuRelax();
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  hold_.store(false, std::memory_order_release);  // a spinning worker then sleeps and sees stop_
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::RunTasks(uint64_t generation, const std::function<void(size_t)>& task,
                          size_t count) {
  for (;;) {
    uint64_t word = claim_.load(std::memory_order_acquire);
    do {
      if ((word >> kIndexBits) != generation || (word & kIndexMask) >= count) return;
    } while (!claim_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire));
    task(static_cast<size_t>(word & kIndexMask));
    if (completed_.fetch_add(1, std::memory_order_acq_rel) + 1 == count) {
      // Taking the mutex orders this notify after the caller's predicate
      // check, so the wakeup cannot be lost.
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::SpinForNextCall(uint64_t seen) const {
  SpinUntil([&] {
    return (claim_.load(std::memory_order_acquire) >> kIndexBits) != seen ||
           !hold_.load(std::memory_order_acquire);
  });
}

void ThreadPool::WorkerLoop() {
#if defined(__linux__)
  // Named so that `top -H`, perf and /proc/PID/task tell our workers from
  // XNNPACK's (the name is at most 15 characters).
  pthread_setname_np(pthread_self(), "actsparse-pool");
#endif
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(size_t)>* task;
    size_t count;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      task = task_;
      count = count_;
    }
    RunTasks(seen, *task, count);
    // Returns at once unless held. If a call came meanwhile, the wait above
    // finds it without sleeping.
    SpinForNextCall(seen);
  }
}

void ThreadPool::ParallelFor(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  if (count > kIndexMask) std::abort();  // a programming error, not an input error
  std::lock_guard<std::mutex> call(call_mutex_);
  if (workers_.empty() || count == 1) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = generation_ = (generation_ + 1) & kGenerationMask;
    task_ = &task;
    count_ = count;
    completed_.store(0, std::memory_order_relaxed);
    claim_.store(generation << kIndexBits, std::memory_order_release);
  }
  wake_.notify_all();
  RunTasks(generation, task, count);
  if (completed_.load(std::memory_order_acquire) == count) return;
  // The worker is finishing its last task, which is shorter than a chain:
  // spinning for it beats a futex sleep, whose wakeup costs 15-30 us here.
  if (SpinUntil([&] { return completed_.load(std::memory_order_acquire) == count; })) return;
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return completed_.load(std::memory_order_acquire) == count; });
}

}  // namespace actsparse
