// Elementwise micro-kernels, portable: one float per "vector". The reference
// the SIMD tables are tested against, and the fallback.
#include <cstdint>
#include <cstring>

#include "delegate/kernels/elementwise_impl.h"

namespace actsparse {
namespace kernels {
namespace {

struct ScalarVec {
  using F = float;
  using I = int32_t;
  static constexpr size_t kWidth = 1;
  static F Load(const float* p) { return *p; }
  static void Store(float* p, F v) { *p = v; }
  static F Splat(float v) { return v; }
  static I SplatInt(int32_t v) { return v; }
  static I AsInt(F v) {
    I bits;
    std::memcpy(&bits, &v, sizeof(bits));
    return bits;
  }
  static F AsFloat(I v) {
    F value;
    std::memcpy(&value, &v, sizeof(value));
    return value;
  }
  static float Lane(F v, size_t /*lane*/) { return v; }
};

}  // namespace

const ElementwiseKernels& ElementwiseKernelsScalar() {
  static const ElementwiseKernels kernels = elementwise_impl::MakeElementwiseKernels<ScalarVec>("scalar");
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
