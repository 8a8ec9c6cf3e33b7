// Elementwise micro-kernels, portable: one float per "vector". The reference
// the SIMD tables are tested against, and the fallback.
#include "delegate/kernels/elementwise_impl.h"
#include "delegate/kernels/simd_vec.h"

namespace actsparse {
namespace kernels {

const ElementwiseKernels& ElementwiseKernelsScalar() {
  static const ElementwiseKernels kernels = elementwise_impl::MakeElementwiseKernels<ScalarVec>("scalar");
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
