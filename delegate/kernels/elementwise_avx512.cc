// Elementwise micro-kernels for AVX-512 (compiled with -mavx512f -mfma,
// called only where the CPU has AVX512F): the AVX2 table with its unary
// activations 16 floats wide. The ones with an exp or an erfc (sigmoid,
// tanh, SiLU, GELU) are bound by their arithmetic, not by memory; the
// other kernels stay 8 wide (the transpose's register blocks are 8 x 8).
// The same operations on each float as the AVX2 table's.
#include "delegate/kernels/elementwise_impl.h"
#include "delegate/kernels/simd_vec.h"

namespace actsparse {
namespace kernels {

const ElementwiseKernels& ElementwiseKernelsAvx512() {
  static const ElementwiseKernels kernels = [] {
    ElementwiseKernels k = ElementwiseKernelsAvx2();
    k.name = "avx512";
    elementwise_impl::FillUnaries<Avx512Vec>(&k);
    return k;
  }();
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
