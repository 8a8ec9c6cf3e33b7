// Pooling and reductions over NHWC float32: MAX_POOL_2D / AVERAGE_POOL_2D
// (the builtin kernels' rules: padded positions are skipped, an average
// divides by the number of valid positions) and a window sum (a StableHLO
// reduce-window ADD), MEAN over a contiguous range of
// axes, and SOFTMAX over the innermost axis. Knows nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_POOLING_H_
#define ACTSPARSE_DELEGATE_OPERATOR_POOLING_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/operator/layout.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

struct Pool2DParams {
  kernels::PoolOp op = kernels::PoolOp::kMax;
  int batch = 1, input_height = 0, input_width = 0, channels = 0;
  int output_height = 0, output_width = 0;
  int filter_height = 1, filter_width = 1, stride_height = 1, stride_width = 1;
  int padding_top = 0, padding_left = 0;  // bottom/right follow from the output size
  float output_min = -3.402823466e+38f, output_max = 3.402823466e+38f;
};

// Whether every output position's window holds at least one input
// position (a window entirely in the padding has nothing to reduce);
// otherwise false, with `error` naming the row or column.
bool PoolWindowsSeeInput(const Pool2DParams& params, std::string* error);

class Pool2DOperator {
 public:
  static std::unique_ptr<Pool2DOperator> Create(const Pool2DParams& params, std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;
  const Pool2DParams& params() const { return params_; }

 private:
  Pool2DOperator() = default;
  Pool2DParams params_;
  const kernels::ElementwiseKernels* k_ = nullptr;
};

// MEAN, SUM, REDUCE_MAX, REDUCE_MIN. kMax starts at the lowest float and
// keeps the larger (`x > max`), kMin at the highest keeping the smaller, as
// the builtin kernels: a NaN never wins.
enum class Reduction { kMean, kSum, kMax, kMin };

// out = the reduction of `input` over axes [first_axis, last_axis] (a contiguous range).
class ReduceOperator {
 public:
  static std::unique_ptr<ReduceOperator> Create(const Shape& input, int first_axis, int last_axis,
                                                std::string* error, Reduction reduction = Reduction::kMean);
  // Over any axes (sorted, distinct): axes that are not one range are first
  // transposed behind the kept ones (the kept and the reduced each in
  // order), so each output still sums its inputs in their row-major order,
  // as the builtin kernel does (PSPNet's pools: MEAN over axes 3 and 5).
  static std::unique_ptr<ReduceOperator> Create(const Shape& input, const std::vector<int>& axes,
                                                std::string* error, Reduction reduction = Reduction::kMean);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  ReduceOperator() = default;
  std::unique_ptr<TransposeOperator> gather_;  // non-contiguous axes: the input reordered first
  mutable std::vector<float> gathered_;
  size_t outer_ = 1, reduced_ = 1, inner_ = 1;
  Reduction reduction_ = Reduction::kMean;
  const kernels::ElementwiseKernels* k_ = nullptr;
  // Per-thread partial sums when rows are split across threads (see Run).
  mutable std::vector<float> partials_;
};

// CUMSUM over `axis`: each output the sum of the inputs before it along the
// axis and (unless exclusive) itself, in the axis's order (reverse: from
// its end), one add per element as the builtin's scan.
class CumsumOperator {
 public:
  static std::unique_ptr<CumsumOperator> Create(const Shape& input, int axis, bool exclusive, bool reverse,
                                                std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  CumsumOperator() = default;
  size_t outer_ = 1, length_ = 1, inner_ = 1;
  bool exclusive_ = false, reverse_ = false;
  kernels::BinaryFn add_ = nullptr;
};

// ARG_MAX / ARG_MIN over `axis`: each output is the index (int32, its bits
// in the float buffer) of
// the first largest (smallest) input along it, walking from index 0 with a
// strict comparison, as the builtin kernel (a NaN after the first never wins).
class ArgReduceOperator {
 public:
  static std::unique_ptr<ArgReduceOperator> Create(const Shape& input, int axis, bool max, std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  ArgReduceOperator() = default;
  size_t outer_ = 1, reduced_ = 1, inner_ = 1;
  bool max_ = true;
};

// out = exp((x - max(x)) * beta) / sum, over rows of `row` floats.
class SoftmaxOperator {
 public:
  static std::unique_ptr<SoftmaxOperator> Create(size_t rows, size_t row, float beta);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  SoftmaxOperator() = default;
  size_t rows_ = 0, row_ = 0;
  float beta_ = 1.0f;
  const kernels::ElementwiseKernels* k_ = nullptr;
};

// L2_NORMALIZATION over the innermost dim: `rows` rows of `row` floats,
// each divided by max(its L2 norm, kL2NormEpsilon).
constexpr float kL2NormEpsilon = 1e-6f;  // the builtin kernel's

class L2NormalizationOperator {
 public:
  L2NormalizationOperator(size_t rows, size_t row);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  size_t rows_ = 0, row_ = 0;
  const kernels::ElementwiseKernels* k_ = nullptr;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_POOLING_H_
