// Elementwise micro-kernels for AArch64 NEON: 4 floats per vector (GCC vector
// extensions, which GCC lowers to NEON instructions).
#include "delegate/kernels/elementwise_impl.h"
#include "delegate/kernels/simd_vec.h"

namespace actsparse {
namespace kernels {

const ElementwiseKernels& ElementwiseKernelsNeon() {
  static const ElementwiseKernels kernels = elementwise_impl::MakeElementwiseKernels<NeonVec>("neon");
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
