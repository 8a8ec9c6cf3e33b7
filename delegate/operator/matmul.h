// BATCH_MATMUL over float32 tensors: out[..., M, N] = lhs[..., M, K] x
// rhs[..., K, N], with `adj_x` the left operand given as [..., K, M] and
// `adj_y` the right one as [..., N, K]; the batch dims (all but the last two)
// broadcast as in NumPy, right-aligned. Attention's products (queries x keys,
// weights x values), where both operands are activations.
//
// The right operand is packed into the igemm kernel's tiles of 16 columns
// (once at Create when it is a model constant, else at every Run) and the
// left operand's rows are read by arithmetic (transposed into a scratch
// first under adj_x), so the product runs on the conv's register-blocked
// kernels. Each output sums its K products in order from zero, one fused
// multiply-add each (above kMatMulMaxUnblocked, in blocks of
// kMatMulReductionBlock whose partial sums wait in the output: the same
// order).
//
// A right operand that is not a constant is packed at every Run: where
// that costs more than packing the left one and transposing the product
// (attention's weights x values: 32 rows against a 2688 x 2688 right
// operand given adjoint), the product is computed transposed, out^T =
// rhs^T x lhs^T, and transposed back: the same terms in the same order,
// the same bits. Knows nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_MATMUL_H_
#define ACTSPARSE_DELEGATE_OPERATOR_MATMUL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

// Reductions longer than this go to the kernel in blocks (the AVX2 and NEON
// kernels take up to 2048 terms in one call).
constexpr size_t kMatMulMaxUnblocked = 2048;
constexpr size_t kMatMulReductionBlock = 1024;

// The product's shape (batch dims broadcast, then M, N), or false with
// `error` naming the shapes: a rank outside [2, kMaxRank], an empty dim,
// contracted dims that differ, batch dims that do not broadcast.
bool MatMulOutputShape(const Shape& lhs, const Shape& rhs, bool adj_x, bool adj_y, Shape* out,
                       std::string* error);

class MatMulOperator {
 public:
  // `rhs_constant`: the right operand's floats when it is a model constant
  // (packed here, once), else null. Fails (null, `error` naming the shapes)
  // where MatMulOutputShape does, or when `out` is not the product's shape.
  static std::unique_ptr<MatMulOperator> Create(const Shape& lhs, const Shape& rhs, bool adj_x, bool adj_y,
                                                const Shape& out, const float* rhs_constant, std::string* error);
  // `rhs` is ignored when the right operand was a constant.
  void Run(const float* lhs, const float* rhs, float* out, ThreadPool* pool);

 private:
  MatMulOperator() = default;
  struct ReductionBlock {
    size_t first = 0, count = 0, offset = 0;  // terms [first, first + count); floats into a batch's packing
  };
  // Packs the right operand's batch `b` into packed_.
  void PackRhs(const float* rhs, size_t b);
  static std::unique_ptr<MatMulOperator> CreateDirect(const Shape& lhs, const Shape& rhs, bool adj_x, bool adj_y,
                                                      const Shape& out, const float* rhs_constant);

  // The product computed transposed (see above): `transposed_` computes
  // out^T into transposed_out_, Run transposes each batch into out.
  std::unique_ptr<MatMulOperator> transposed_;
  AlignedFloats transposed_out_;
  size_t batches_ = 1;

  kernels::IgemmKernel igemm_{};
  kernels::TransposeFn transpose_ = nullptr;
  bool adj_x_ = false, adj_y_ = false, rhs_packed_once_ = false;
  size_t m_ = 0, k_ = 0, n_ = 0;
  size_t lhs_batches_ = 1, rhs_batches_ = 1;
  // Per output batch, the operands' batch (broadcast dims read batch 0).
  std::vector<size_t> lhs_batch_, rhs_batch_;
  std::vector<ReductionBlock> blocks_;
  size_t packed_batch_floats_ = 0;  // one right-operand batch, packed
  AlignedFloats packed_;
  AlignedFloats lhs_transposed_;  // adj_x: the left operand as [batches, M, K]
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_MATMUL_H_
