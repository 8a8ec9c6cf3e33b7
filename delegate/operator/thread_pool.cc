#include "delegate/operator/thread_pool.h"

#include <cstdlib>

namespace actsparse {
namespace {

constexpr int kIndexBits = 24;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
constexpr uint64_t kGenerationMask = ~uint64_t{0} >> kIndexBits;

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
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

void ThreadPool::WorkerLoop() {
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
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return completed_.load(std::memory_order_acquire) == count; });
}

}  // namespace actsparse
