#include "delegate/operator/shape.h"

#include <algorithm>

namespace actsparse {
namespace {

// Tasks per thread, so a thread the OS delays holds up the others briefly.
constexpr size_t kTasksPerThread = 4;

}  // namespace

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
