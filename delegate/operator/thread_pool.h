// A small fixed-size thread pool for the operators: ParallelFor runs
// `task(i)` for i in [0, count) on the caller plus the workers, and returns
// as soon as every task has finished. Idle workers sleep on a condition
// variable.
//
// The caller never waits for a worker to wake up: tasks are claimed from one
// atomic word holding (call generation, next index), so a worker that wakes
// late, after the caller has run every task itself, claims nothing and goes
// back to sleep. The reason: our chains alternate with XNNPACK's ops, whose
// pool threads spin for a while after each op, so our worker may get its core
// late; requiring every worker to check in before returning would make a
// short chain wait for that. The tail left is at most one task that a late
// worker claimed, and the caller spins for it (at most kMaxSpin, then
// sleeps): sleeping would add a futex wakeup, 15-30 us on this VM, to every
// call whose last task ends on a worker.
//
// Between calls a worker sleeps, and waking it costs 15-30 us on this VM, a
// few percent of a chain at 2 threads. When the caller knows that its next
// call follows at once (the chains of one delegate partition run back to
// back), it holds the workers: while held, a worker that runs out of tasks
// spins for the next call instead of sleeping, for at most kMaxSpin. Nothing
// spins between partitions, where XNNPACK's threads need the cores.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_
#define ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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
  // `count` must be below 2^24 (the operators use a few dozen tasks).
  void ParallelFor(size_t count, const std::function<void(size_t)>& task);
  // Whether workers spin for the next call (see above). Release the hold
  // before the last call of a burst so the workers sleep right after it.
  void HoldWorkers(bool hold) { hold_.store(hold, std::memory_order_release); }

 private:
  void WorkerLoop();
  // While held, spins until call `seen` is superseded, at most kMaxSpin.
  void SpinForNextCall(uint64_t seen) const;
  // Claims and runs tasks of call `generation` until none is left.
  void RunTasks(uint64_t generation, const std::function<void(size_t)>& task, size_t count);

  std::vector<std::thread> workers_;
  // Serialises callers: interpreters sharing one delegate may invoke concurrently.
  std::mutex call_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // Guarded by mutex_: what a waking worker reads to join the current call.
  const std::function<void(size_t)>* task_ = nullptr;
  size_t count_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  // (generation << kIndexBits) | next unclaimed index. A claim is a CAS that
  // fails once the generation moved on, so a late worker cannot run a task
  // of a call that has returned.
  std::atomic<uint64_t> claim_{0};
  std::atomic<size_t> completed_{0};  // tasks of the current call finished
  std::atomic<bool> hold_{false};
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_
