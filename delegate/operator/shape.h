// Tensor shapes for the operators, and the one helper every operator uses to
// split its work over the thread pool.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_SHAPE_H_
#define ACTSPARSE_DELEGATE_OPERATOR_SHAPE_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "delegate/operator/thread_pool.h"

namespace actsparse {

// Dimensions, outermost first (NHWC for images).
using Shape = std::vector<int>;
constexpr int kMaxRank = 6;

size_t NumElements(const Shape& shape);
std::string ShapeText(const Shape& shape);  // "[1,56,56,64]"

// Runs body(begin, end) over [0, total) in contiguous chunks: one chunk when
// the work is small (below 2 * min_per_task units) or there is no pool, else
// a few chunks per thread of at least min_per_task units each.
void ParallelRanges(ThreadPool* pool, size_t total, size_t min_per_task,
                    const std::function<void(size_t begin, size_t end)>& body);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_SHAPE_H_
