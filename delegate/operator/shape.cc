#include "delegate/operator/shape.h"

#include <algorithm>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace actsparse {
namespace {

constexpr std::size_t kHugePageBytes = 2 * 1024 * 1024;
constexpr std::size_t kCacheLine = 64;

// Tasks per thread, so a thread the OS delays holds up the others briefly.
constexpr size_t kTasksPerThread = 4;

}  // namespace

void* AllocateBuffer(std::size_t bytes) {
  if (bytes < kHugePageBytes) return ::operator new(bytes, std::align_val_t(kCacheLine));
  void* p = ::operator new(bytes, std::align_val_t(kHugePageBytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Before the first touch, so the pages are faulted in huge. A hint: where
  // THP is off it fails and the block keeps small pages.
  madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
#endif
  return p;
}

void FreeBuffer(void* p, std::size_t bytes) {
  ::operator delete(p, std::align_val_t(bytes < kHugePageBytes ? kCacheLine : kHugePageBytes));
}

size_t NumElements(const Shape& shape) {
  size_t n = 1;
  for (int d : shape) n *= static_cast<size_t>(d);
  return n;
}

std::string ShapeText(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

bool BroadcastsTo(const Shape& input, const Shape& output) {
  if (input.size() > output.size()) return false;
  const size_t lead = output.size() - input.size();
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] != output[lead + i] && input[i] != 1) return false;
  }
  return true;
}

void ParallelRanges(ThreadPool* pool, size_t total, size_t min_per_task,
                    const std::function<void(size_t begin, size_t end)>& body) {
  if (total == 0) return;
  const size_t threads = pool != nullptr ? static_cast<size_t>(pool->num_threads()) : 1;
  size_t tasks = std::min(threads * kTasksPerThread, total / std::max<size_t>(min_per_task, 1));
  if (threads == 1 || tasks < 2) {
    body(0, total);
    return;
  }
  // A multiple of the threads, so equal tasks leave no thread a tail.
  tasks -= tasks % threads;
  if (tasks < threads) tasks = threads;
  pool->ParallelFor(tasks, [&](size_t t) { body(t * total / tasks, (t + 1) * total / tasks); });
}

}  // namespace actsparse
