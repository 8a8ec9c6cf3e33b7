// Elementwise micro-kernels for AVX2 + FMA: 8 floats per vector (GCC vector
// extensions; compiled with -mavx2 -mfma, called only where the CPU has both).
#include <cstdint>
#include <cstring>

#include "delegate/kernels/elementwise_impl.h"

namespace actsparse {
namespace kernels {
namespace {

typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

struct Avx2Vec {
  using F = F8;
  using I = I8;
  static constexpr size_t kWidth = 8;
  static F Load(const float* p) {
    F v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static void Store(float* p, F v) { std::memcpy(p, &v, sizeof(v)); }
  static F Splat(float v) { return F{v, v, v, v, v, v, v, v}; }
  static I SplatInt(int32_t v) { return I{v, v, v, v, v, v, v, v}; }
  // C-style casts between GCC vectors of one size are bit casts.
  static I AsInt(F v) { return (I)v; }
  static F AsFloat(I v) { return (F)v; }
  static float Lane(F v, size_t lane) { return v[lane]; }
};

}  // namespace

const ElementwiseKernels& ElementwiseKernelsAvx2() {
  static const ElementwiseKernels kernels = elementwise_impl::MakeElementwiseKernels<Avx2Vec>("avx2");
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
