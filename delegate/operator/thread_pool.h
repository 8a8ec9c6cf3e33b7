// A small fixed-size thread pool for the operators: ParallelFor runs
// `task(i)` for i in [0, count) on the caller plus the workers, and returns
// when all are done. Idle workers sleep on a condition variable. Every worker
// takes part in every ParallelFor (it may find no task left), so no worker can
// still be looking at one call's state when the next call begins.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_
#define ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace actsparse {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 1 means no worker threads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  void ParallelFor(size_t count, const std::function<void(size_t)>& task);

 private:
  void WorkerLoop();

  std::vector<std::thread> workers_;
  // Serialises callers: interpreters sharing one delegate may invoke concurrently.
  std::mutex call_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(size_t)>* task_ = nullptr;
  size_t count_ = 0;
  std::atomic<size_t> next_{0};
  size_t generation_ = 0;
  size_t finished_ = 0;  // workers done with the current generation
  bool stop_ = false;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_
