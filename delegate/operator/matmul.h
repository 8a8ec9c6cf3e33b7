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

  // The product as written (never computed transposed), for running it a
  // few rows at a time: Prepare once per run, then MultiplyRows.
  static std::unique_ptr<MatMulOperator> CreateDirect(const Shape& lhs, const Shape& rhs, bool adj_x, bool adj_y,
                                                      const Shape& out, const float* rhs_constant);
  // Packs the right operand (unless a constant) and transposes the left one under adj_x.
  void Prepare(const float* lhs, const float* rhs, ThreadPool* pool);
  // Row m0 of output batch b's left operand, [M, K] row-major (after Prepare).
  const float* LhsRows(const float* lhs, size_t b, size_t m0) const;
  // `count` rows of output batch b from `rows` ([count, K]) into `out`
  // ([count, N]); one thread.
  void MultiplyRows(const float* rows, size_t b, size_t count, float* out) const;

 private:
  MatMulOperator() = default;
  struct ReductionBlock {
    size_t first = 0, count = 0, offset = 0;  // terms [first, first + count); floats into a batch's packing
  };
  // Packs the right operand's batch `b` into packed_.
  void PackRhs(const float* rhs, size_t b);

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

// Attention: out = softmax(queries x keys, beta) x values, each product a
// batch matmul (its operands possibly adjoint; `transposed_out`: the
// graph's product is values^T x weights^T, out^T of this one), computed a
// block of query rows at a time: the block's scores, their softmax, then
// its rows of the output, the scores never written whole (a 2 x 2688 x
// 2688 score tensor is 58 MB in and out of memory, twice). Each score, each
// softmax row and each output sums the terms of the unfused ops in their
// order: the same bits.
class AttentionOperator {
 public:
  static std::unique_ptr<AttentionOperator> Create(const Shape& queries, const Shape& keys, bool adj_q, bool adj_k,
                                                   const Shape& values, bool adj_v, bool transposed_out, float beta,
                                                   const Shape& out, std::string* error);
  // Whether Create takes these shapes (the second product's batches the
  // scores' own, `out` the product's shape); if not, `error` says why.
  static bool Fits(const Shape& queries, const Shape& keys, bool adj_q, bool adj_k, const Shape& values, bool adj_v,
                   bool transposed_out, const Shape& out, std::string* error);
  void Run(const float* queries, const float* keys, const float* values, float* out, ThreadPool* pool);

  // A block's scores: about this many floats (half of a 2 MB L2), at least 8 rows.
  static constexpr size_t kBlockFloats = 128 * 1024;

 private:
  AttentionOperator() = default;
  // Fits, also giving the two products' shapes.
  static bool ProductShapes(const Shape& queries, const Shape& keys, bool adj_q, bool adj_k, const Shape& values,
                            bool adj_v, bool transposed_out, const Shape& out, Shape* scores, Shape* weighted,
                            std::string* error);
  std::unique_ptr<MatMulOperator> scores_, weighted_;
  size_t batches_ = 1, m_ = 0, n_ = 0, dv_ = 0, block_rows_ = 1;
  float beta_ = 1.0f;
  bool transposed_out_ = false;
  const kernels::ElementwiseKernels* k_ = nullptr;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_MATMUL_H_
