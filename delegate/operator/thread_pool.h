// A small fixed-size thread pool for the operators: ParallelFor runs
// `task(i)` for i in [0, count) on the caller plus the workers, and returns
// as soon as every task has finished. Idle workers sleep on a condition
// variable.
//
// Every participant (the caller is participant 0, worker k is k + 1) owns a
// contiguous range of the tasks, the same share of every call, and takes its
// tasks from the front of it; one that runs out steals from the back of the
// others'. Consecutive ops of a partition split their rows alike, so a core
// mostly reads what it wrote itself in the step before (handing rows across
// cores made 2 threads scale 1.1x instead of 1.5x on MobileNetV2), and a
// late or slow participant's tasks are taken by the others.
//
// The caller never waits for a worker to wake up: each range is one atomic
// word holding (call generation, front, back), so a worker that wakes late,
// after the caller has run every task itself, claims nothing and goes back
// to sleep. The tail left is at most the tasks a late worker has claimed, and
// the caller spins for them (at most kMaxSpin, then sleeps): sleeping would
// add a futex wakeup, 15-30 us on this VM, to every call whose last task
// ends on a worker.
//
// Between calls a worker sleeps, and waking it costs 15-30 us on this VM.
// When the caller knows that its next call follows at once (the steps of one
// delegate partition run back to back), it holds the workers: while held, a
// worker that runs out of tasks spins for the next call instead of sleeping,
// for at most kMaxSpin, and joins it without taking the mutex (the caller
// publishes the task in atomics): an empty call with held workers costs
// ~0.8 us instead of 1.0-1.5. Nothing spins between partitions, where the
// runtime's own threads may need the cores.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_
#define ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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
  // The first task of `participant`'s range in a call of `count` tasks over
  // `participants` (the next participant's first ends it). An operator that
  // sizes its tasks knows from this which ones a participant runs first
  // (the front of its range) and which are stolen or run last (the back).
  static size_t RangeStart(size_t participant, size_t participants, size_t count) {
    return participant * count / participants;
  }
  // Where chunk `chunk` of `chunks` (a multiple of `participants`) starts in
  // [0, total) when each participant's range of chunks covers an equal share
  // of the total in chunks that shrink toward its back (m:m-1:...:1 for m
  // per participant): what a call's end waits for, or what is stolen, is
  // small, while the first chunks stay large. chunk = chunks gives total.
  static size_t GuidedChunkStart(size_t chunk, size_t chunks, size_t participants, size_t total) {
    if (chunk >= chunks) return total;
    const size_t per = chunks / participants, owner = chunk / per, j = chunk % per;
    const size_t begin = owner * total / participants, share = (owner + 1) * total / participants - begin;
    // Chunk j weighs per - j: the weights before it sum to j*per - j(j-1)/2 of per(per+1)/2.
    return begin + share * (j * per - j * (j - 1) / 2) / (per * (per + 1) / 2);
  }
  // GuidedChunkStart where `chunks` is a multiple of `participants`, else
  // where chunk `chunk` of `chunks` equal ones starts.
  static size_t GuidedOrEqualChunkStart(size_t chunk, size_t chunks, size_t participants, size_t total) {
    return chunks % participants == 0 ? GuidedChunkStart(chunk, chunks, participants, total)
                                      : chunk * total / chunks;
  }
  // `count` must be below 2^20 (the operators use a few hundred tasks at most).
  void ParallelFor(size_t count, const std::function<void(size_t)>& task);
  // Whether workers spin for the next call (see above). Release the hold
  // once the burst's last call has returned: released before that call, a
  // worker spinning for it may see the release first and go to sleep just
  // before the call, which must then wake it.
  void HoldWorkers(bool hold) { hold_.store(hold, std::memory_order_release); }
  // false: ParallelFor runs every task on the caller, in index order, and
  // leaves the workers asleep; num_threads() is unchanged, so the operators
  // split their work as they would for the workers and compute the same
  // bits. For a caller that finds the workers slower than none (a worker
  // the OS time-slices with another process; see graph/run_mode.h). With
  // interpreters that share the pool running at once, the last setting
  // holds for both: a matter of speed only.
  void UseWorkers(bool use) { use_workers_.store(use, std::memory_order_relaxed); }
  // Calls with more than one task made while the workers were not held,
  // since the pool was made. A burst's calls should all be held: a worker
  // released before a call may go to sleep just before it.
  uint64_t unheld_calls() const { return unheld_calls_.load(std::memory_order_relaxed); }

 private:
  // One participant's range of the current call: (generation << 40) |
  // (front << 20) | back. Claims are CASes that fail once the generation
  // moved on, so a late worker cannot run a task of a call that has returned.
  struct alignas(64) Range {
    std::atomic<uint64_t> word{0};
  };

  void WorkerLoop(int participant);
  // While held, spins until call `seen` is superseded, at most kMaxSpin.
  void SpinForNextCall(uint64_t seen) const;
  // Runs tasks of call `generation`: its own range from the front, then the
  // others' from the back, until none is left.
  void RunTasks(uint64_t generation, int participant, const std::function<void(size_t)>& task,
                size_t count);

  std::vector<std::thread> workers_;
  std::unique_ptr<Range[]> ranges_;  // one per participant
  // Serialises callers: interpreters sharing one delegate may invoke concurrently.
  std::mutex call_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // Guarded by mutex_: what a sleeping worker waits on.
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::atomic<uint64_t> current_{0};  // generation of the latest call, for held workers
  // The latest call's task and count, for every worker (stored before the
  // generation, inside the mutex).
  std::atomic<const std::function<void(size_t)>*> published_task_{nullptr};
  std::atomic<size_t> published_count_{0};
  std::atomic<size_t> completed_{0};  // tasks of the current call finished
  std::atomic<bool> caller_asleep_{false};  // the caller waits on done_
  std::atomic<bool> hold_{false};
  std::atomic<bool> use_workers_{true};
  std::atomic<uint64_t> unheld_calls_{0};
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_THREAD_POOL_H_
