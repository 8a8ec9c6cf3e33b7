// Elementwise micro-kernels for AArch64 NEON: 4 floats per vector (GCC vector
// extensions, which GCC lowers to NEON instructions).
#include <cstdint>
#include <cstring>

#include "delegate/kernels/elementwise_impl.h"

namespace actsparse {
namespace kernels {
namespace {

typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

struct NeonVec {
  using F = F4;
  using I = I4;
  static constexpr size_t kWidth = 4;
  static F Load(const float* p) {
    F v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static void Store(float* p, F v) { std::memcpy(p, &v, sizeof(v)); }
  static F Splat(float v) { return F{v, v, v, v}; }
  static I SplatInt(int32_t v) { return I{v, v, v, v}; }
  // C-style casts between GCC vectors of one size are bit casts.
  static I AsInt(F v) { return (I)v; }
  static F AsFloat(I v) { return (F)v; }
  static float Lane(F v, size_t lane) { return v[lane]; }
};

}  // namespace

const ElementwiseKernels& ElementwiseKernelsNeon() {
  static const ElementwiseKernels kernels = elementwise_impl::MakeElementwiseKernels<NeonVec>("neon");
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
