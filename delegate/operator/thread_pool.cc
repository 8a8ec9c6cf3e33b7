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

// A range word: generation (24 bits) | front (20) | back (20). The generation
// wraps after 16.7 million calls; a worker would have to stay descheduled
// between reading a call and claiming from it for that many calls (seconds
// at the very least) to mistake a new call for its old one.
constexpr int kIndexBits = 20;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
constexpr uint64_t kGenerationMask = (uint64_t{1} << 24) - 1;

uint64_t Pack(uint64_t generation, uint64_t front, uint64_t back) {
  return (generation << (2 * kIndexBits)) | (front << kIndexBits) | back;
}
uint64_t GenerationOf(uint64_t word) { return word >> (2 * kIndexBits); }
uint64_t FrontOf(uint64_t word) { return (word >> kIndexBits) & kIndexMask; }
uint64_t BackOf(uint64_t word) { return word & kIndexMask; }
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
  const int participants = num_threads < 1 ? 1 : num_threads;
  ranges_.reset(new Range[participants]);
  for (int i = 1; i < participants; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
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

void ThreadPool::RunTasks(uint64_t generation, int participant, const std::function<void(size_t)>& task,
                          size_t count) {
  const int participants = num_threads();
  size_t done = 0;  // counted here, added once: a shared counter per task ping-pongs between cores
  // Own range first, from the front; then the others', from the back.
  for (int k = 0; k < participants; ++k) {
    const int owner = (participant + k) % participants;
    std::atomic<uint64_t>& range = ranges_[owner].word;
    for (;;) {
      uint64_t word = range.load(std::memory_order_acquire);
      bool claimed = false;
      uint64_t index = 0;
      while (GenerationOf(word) == generation && FrontOf(word) < BackOf(word)) {
        const uint64_t front = FrontOf(word), back = BackOf(word);
        const uint64_t next = k == 0 ? Pack(generation, front + 1, back) : Pack(generation, front, back - 1);
        if (range.compare_exchange_weak(word, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
          index = k == 0 ? front : back - 1;
          claimed = true;
          break;
        }
      }
      if (!claimed) break;  // this range is empty (or the call is over)
      task(static_cast<size_t>(index));
      ++done;
    }
  }
  // Only a caller asleep on done_ needs the notify. Locking the mutex
  // unasked would make a worker that finishes a call's last task wait
  // while the caller holds the mutex to publish the next call. Both sides
  // are sequentially consistent (the caller stores caller_asleep_, then
  // reads completed_; this adds to completed_, then reads caller_asleep_),
  // so at least one of them sees the other's write.
  if (done != 0 && completed_.fetch_add(done, std::memory_order_seq_cst) + done == count &&
      caller_asleep_.load(std::memory_order_seq_cst)) {
    // Taking the mutex orders this notify after the caller's predicate
    // check, so the wakeup cannot be lost.
    std::lock_guard<std::mutex> lock(mutex_);
    done_.notify_one();
  }
}

void ThreadPool::SpinForNextCall(uint64_t seen) const {
  SpinUntil([&] {
    return current_.load(std::memory_order_acquire) != seen || !hold_.load(std::memory_order_acquire);
  });
}

void ThreadPool::WorkerLoop(int participant) {
#if defined(__linux__)
  // Named so that `top -H`, perf and /proc/PID/task tell our workers from
  // XNNPACK's (the name is at most 15 characters).
  pthread_setname_np(pthread_self(), "actsparse-pool");
#endif
  uint64_t seen = 0;
  for (;;) {
    const uint64_t latest = current_.load(std::memory_order_acquire);
    if (latest != seen) {
      // A call came while this worker spun: join it without the mutex. The
      // caller holds the mutex while it publishes a call, so locking it here
      // (a worker sees `current_` the moment it is stored) made the worker
      // sleep on the mutex and the caller's unlock wake it: 1.3 us per empty
      // call instead of 0.3.
      seen = latest;
    } else {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    // Stored before the generation, so these belong to call `seen` or to a
    // later one; for a later one every claim of call `seen` fails (its
    // ranges are empty before a later call can start) and nothing runs.
    const std::function<void(size_t)>* task = published_task_.load(std::memory_order_acquire);
    const size_t count = published_count_.load(std::memory_order_acquire);
    RunTasks(seen, participant, *task, count);
    // Returns at once unless held. If a call came meanwhile, the next turn
    // of the loop finds it without sleeping.
    SpinForNextCall(seen);
  }
}

void ThreadPool::ParallelFor(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  if (count >= kIndexMask) std::abort();  // a programming error, not an input error
  std::lock_guard<std::mutex> call(call_mutex_);
  if (workers_.empty() || count == 1 || !use_workers_.load(std::memory_order_relaxed)) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  const size_t participants = static_cast<size_t>(num_threads());
  if (!hold_.load(std::memory_order_relaxed)) unheld_calls_.fetch_add(1, std::memory_order_relaxed);
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = generation_ = (generation_ + 1) & kGenerationMask;
    completed_.store(0, std::memory_order_relaxed);
    for (size_t p = 0; p < participants; ++p) {
      ranges_[p].word.store(Pack(generation, RangeStart(p, participants, count), RangeStart(p + 1, participants, count)),
                            std::memory_order_release);
    }
    published_task_.store(&task, std::memory_order_release);
    published_count_.store(count, std::memory_order_release);
    current_.store(generation, std::memory_order_release);
  }
  wake_.notify_all();
  RunTasks(generation, 0, task, count);
  if (completed_.load(std::memory_order_acquire) == count) return;
  // A worker is finishing its last task, which is shorter than an op:
  // spinning for it beats a futex sleep, whose wakeup costs 15-30 us here.
  if (SpinUntil([&] { return completed_.load(std::memory_order_acquire) == count; })) return;
  std::unique_lock<std::mutex> lock(mutex_);
  caller_asleep_.store(true, std::memory_order_seq_cst);
  done_.wait(lock, [&] { return completed_.load(std::memory_order_seq_cst) == count; });
  caller_asleep_.store(false, std::memory_order_relaxed);
}

}  // namespace actsparse
