// Elementwise micro-kernels for AVX2 + FMA: 8 floats per vector (GCC vector
// extensions; compiled with -mavx2 -mfma, called only where the CPU has both).
#include "delegate/kernels/elementwise_impl.h"
#include "delegate/kernels/simd_vec.h"

namespace actsparse {
namespace kernels {

const ElementwiseKernels& ElementwiseKernelsAvx2() {
  static const ElementwiseKernels kernels = elementwise_impl::MakeElementwiseKernels<Avx2Vec>("avx2");
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
