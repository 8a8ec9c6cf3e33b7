// Tensor shapes for the operators, and the one helper every operator uses to
// split its work over the thread pool.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_SHAPE_H_
#define ACTSPARSE_DELEGATE_OPERATOR_SHAPE_H_

#include <cstddef>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "delegate/operator/thread_pool.h"

namespace actsparse {

// Buffers of 2 MB or more start on a 2 MB boundary and ask Linux for
// transparent huge pages (madvise; where THP is off, or off Linux, they
// keep small pages): a ResNet's packed weights are tens of MB, streamed
// every inference, and 4 KB pages cost a TLB miss per page. Measured on
// ResNet-18 s=0.3 at 1 thread, interleaved: +1.9-3%; MobileNetV2 +0.5-1.5%.
void* AllocateBuffer(std::size_t bytes);
void FreeBuffer(void* p, std::size_t bytes);

// Memory for packed weights and activations: 64-byte (cache line) aligned,
// so a 16-float weight row is one line and no vector load splits across
// two (glibc's malloc gives 16 bytes; split loads were half of the igemm
// kernel's loads and cost most when the core is shared).
template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlignment = 64;
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(AllocateBuffer(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { FreeBuffer(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheAlignedAllocator<U>&) const { return false; }
};
using AlignedFloats = std::vector<float, CacheAlignedAllocator<float>>;

// Dimensions, outermost first (NHWC for images).
using Shape = std::vector<int>;
// The most dims any operator takes (BROADCAST_TO's and TFLite's limit; the
// importer holds most ops to the 6 their builtin kernels take).
constexpr int kMaxRank = 8;

size_t NumElements(const Shape& shape);
std::string ShapeText(const Shape& shape);  // "[1,56,56,64]"

// Whether `input` broadcasts to `output` (NumPy's rule, right-aligned: each
// of its dims equals the output's or is 1; a lower rank repeats it).
bool BroadcastsTo(const Shape& input, const Shape& output);

// Runs body(begin, end) over [0, total) in contiguous chunks: one chunk when
// the work is small (below 2 * min_per_task units) or there is no pool, else
// a few chunks per thread of at least min_per_task units each.
void ParallelRanges(ThreadPool* pool, size_t total, size_t min_per_task,
                    const std::function<void(size_t begin, size_t end)>& body);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_SHAPE_H_
