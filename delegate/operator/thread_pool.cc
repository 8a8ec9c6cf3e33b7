#include "delegate/operator/thread_pool.h"

namespace actsparse {

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

void ThreadPool::WorkerLoop() {
  size_t seen = 0;
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
    for (size_t i = next_.fetch_add(1); i < count; i = next_.fetch_add(1)) (*task)(i);
    std::lock_guard<std::mutex> lock(mutex_);
    if (++finished_ == workers_.size()) done_.notify_one();
  }
}

void ThreadPool::ParallelFor(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  std::lock_guard<std::mutex> call(call_mutex_);
  if (workers_.empty() || count == 1) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_.store(0);
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  for (size_t i = next_.fetch_add(1); i < count; i = next_.fetch_add(1)) task(i);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return finished_ == workers_.size(); });
}

}  // namespace actsparse
