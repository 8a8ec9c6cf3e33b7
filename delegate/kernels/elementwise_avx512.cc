// Elementwise micro-kernels for AVX-512 (compiled with -mavx512f -mfma,
// called only where the CPU has AVX512F): the AVX2 table with its unary
// activations and its softmax 16 floats wide. The ones with an exp or an
// erfc (sigmoid, tanh, SiLU, GELU, softmax) are bound by their arithmetic,
// not by memory; the other kernels stay 8 wide (the transpose's register
// blocks are 8 x 8).
// The same operations on each float as the AVX2 table's; sums and maxima
// of a row in 16 partial ones, not 8.
#include "delegate/kernels/elementwise_impl.h"
#include "delegate/kernels/simd_vec.h"

namespace actsparse {
namespace kernels {

const ElementwiseKernels& ElementwiseKernelsAvx512() {
  static const ElementwiseKernels kernels = [] {
    ElementwiseKernels k = ElementwiseKernelsAvx2();
    k.name = "avx512";
    elementwise_impl::FillUnaries<Avx512Vec>(&k);
    // Softmax is bound by its exponentials too (attention's 2688-long rows:
    // 6.6 -> 3.4 ms a batch of 2688 rows); its reductions go 16 wide with
    // it, so that it stays its steps in turn (max, exp, sum, scale).
    k.softmax_rows = &elementwise_impl::SoftmaxRows<Avx512Vec>;
    k.reduce_max = &elementwise_impl::ReduceExtreme<Avx512Vec, false>;
    k.reduce_min = &elementwise_impl::ReduceExtreme<Avx512Vec, true>;
    k.reduce_sum = &elementwise_impl::ReduceSum<Avx512Vec>;
    return k;
  }();
  return kernels;
}

}  // namespace kernels
}  // namespace actsparse
