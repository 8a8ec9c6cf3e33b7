// Elementwise operators over float32 tensors of any rank up to kMaxRank:
// binary ops with NumPy/TFLite broadcasting, and unary activations. Create()
// plans the loops once (broadcast dims collapsed, the innermost run handed to
// a micro-kernel); Run() splits the output into tasks. Knows nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_ELEMENTWISE_H_
#define ACTSPARSE_DELEGATE_OPERATOR_ELEMENTWISE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

class BinaryOperator {
 public:
  // out = clamp(a op b, lo, hi); `a` and `b` broadcast to `out` (right-aligned
  // dims, each 1 or equal). Fails (null, `error` set) when they do not.
  static std::unique_ptr<BinaryOperator> Create(kernels::BinaryOp op, const Shape& a, const Shape& b,
                                                const Shape& out, float lo, float hi, std::string* error);
  void Run(const float* a, const float* b, float* out, ThreadPool* pool) const;

 private:
  BinaryOperator() = default;
  kernels::BinaryFn run_ = nullptr;
  // Vector-vector runs: the innermost outer loop's runs in one call.
  kernels::BinaryRowsFn rows_run_ = nullptr;
  // Short runs with an operand broadcast along them: the vector-vector
  // kernel over blocks of runs gathered whole (null: not taken).
  kernels::BinaryFn short_run_ = nullptr;
  // For runs [begin, end) in order: count = body(run, runs left in its
  // innermost outer loop, a_offset, b_offset), the runs it took (at least
  // 1, within that loop).
  template <class Body>
  void ForEachRun(size_t begin, size_t end, Body&& body) const;
  float lo_ = 0, hi_ = 0;
  size_t inner_ = 1;  // floats per micro-kernel call
  bool a_whole_ = true, b_whole_ = true;  // the operand's run is inner_ floats (else one, broadcast)
  // The outer loops, outermost first, after collapsing: extents and the
  // operands' strides in floats (0 where an operand is broadcast).
  std::vector<size_t> outer_, a_stride_, b_stride_;
  size_t outer_total_ = 1;
};

class BroadcastOperator;

// SELECT / SELECT_V2: out[i] = cond[i] != 0 ? a[i] : b[i], each of the three
// broadcast to the output's shape (NumPy's rule; SELECT_V2's). An input of
// another shape is repeated into a buffer first: once at Create for a model
// constant (torch.where(c, x, 0.0)'s scalar), at every Run otherwise.
class SelectOperator {
 public:
  // `shapes`: condition, first and second value; `constants[i]`: input i's
  // floats when it is a model constant, else null. Fails (null, `error`)
  // when an input does not broadcast to `out`.
  static std::unique_ptr<SelectOperator> Create(const std::vector<Shape>& shapes, const Shape& out,
                                                const std::vector<const float*>& constants, std::string* error);
  ~SelectOperator();
  void Run(const float* cond, const float* a, const float* b, float* out, ThreadPool* pool);

 private:
  SelectOperator() = default;
  kernels::SelectFn run_ = nullptr;
  size_t elements_ = 0;
  // Per input: its broadcast (null: already the output's shape) and the
  // buffer it fills; `filled`: a constant, repeated at Create.
  struct Repeated {
    std::unique_ptr<BroadcastOperator> broadcast;
    AlignedFloats floats;
    bool filled = false;
  };
  Repeated inputs_[3];
};

class UnaryOperator {
 public:
  static std::unique_ptr<UnaryOperator> Create(kernels::UnaryOp op, size_t elements,
                                               const kernels::UnaryParams& params);
  void Run(const float* x, float* y, ThreadPool* pool) const;

 private:
  UnaryOperator() = default;
  kernels::UnaryFn run_ = nullptr;
  kernels::UnaryParams params_;
  size_t elements_ = 0;
};

// CAST float32 -> int32 (toward zero, as static_cast on this CPU) or int32
// -> float32, the ints as their bits in float buffers.
class ConvertOperator {
 public:
  ConvertOperator(size_t elements, bool to_int);
  void Run(const float* x, float* y, ThreadPool* pool) const;

 private:
  kernels::ConvertFn run_ = nullptr;
  size_t elements_ = 0;
};

// One op of an ElementwiseGroupOperator. Operands and the result are
// values: value v < the group's input count is input v (n elements, or one
// broadcast to all), value inputs + j is op j's result (n elements).
struct GroupOp {
  enum class Kind { kBinary, kUnary, kSelect, kConvert, kCopy };
  Kind kind = Kind::kCopy;
  kernels::BinaryOp binary_op = kernels::BinaryOp::kAdd;  // kBinary, int ops included
  float lo = -3.402823466e+38f, hi = 3.402823466e+38f;   // kBinary's clamp
  kernels::UnaryOp unary_op = kernels::UnaryOp::kClamp;   // kUnary
  kernels::UnaryParams unary_params;                      // kUnary
  bool to_int = false;                                    // kConvert: float32 -> int32, else back
  std::vector<int> operands;  // binary: a, b; select: condition, a, b; others: x
  int output = -1;            // the group's output slot this result is written to, or -1 (not written)
};

// Elementwise ops over n elements that read one another's results (a
// grid_sample's index arithmetic: dozens of ops, most results read a few
// ops later), run chunk by chunk: each op is the kernel its own operator
// would run on the same values (the same bits), its result kept in L1 for
// the ops after it; only results read outside the group are written out.
class ElementwiseGroupOperator {
 public:
  // `input_sizes`: per group input, n or 1. Fails (null, `error`) on an
  // operand that is not a value computed before its op, or on too many
  // results alive at once.
  static std::unique_ptr<ElementwiseGroupOperator> Create(size_t elements, const std::vector<size_t>& input_sizes,
                                                          std::vector<GroupOp> ops, std::string* error);
  // `inputs` per group input, `outputs` per output slot (GroupOp::output).
  void Run(const float* const* inputs, float* const* outputs, ThreadPool* pool) const;

  static constexpr size_t kChunk = 1024;     // elements per chunk: 4 KB per live result
  static constexpr size_t kMaxScratch = 24;  // results alive at once that are not written out

 private:
  ElementwiseGroupOperator() = default;
  size_t elements_ = 0;
  std::vector<size_t> input_sizes_;
  std::vector<GroupOp> ops_;
  std::vector<int> scratch_;  // per op: its scratch row, or -1 (written out)
  size_t num_scratch_ = 0;
  const kernels::ElementwiseKernels* k_ = nullptr;
};

// One op of an ElementwiseChainOperator: unary, or binary with an operand
// of one value per channel (the innermost dim).
struct ElementwiseStage {
  bool unary = false;
  kernels::UnaryOp unary_op = kernels::UnaryOp::kClamp;
  // The clamp after the op (either kind; its defaults clamp nothing), and a
  // unary op's alpha.
  kernels::UnaryParams params;
  kernels::BinaryOp binary_op = kernels::BinaryOp::kAdd;
  std::vector<float> operand;  // binary: `channels` floats (a scalar repeated)
  bool operand_first = false;  // operand op x, else x op operand
};

// The stages applied in turn to a tensor of rows of `channels` floats,
// chunk by chunk of rows while the chunk is in L1: each stage is the
// kernel its own operator would run, on the same values, so the result is
// bit for bit theirs, without a pass over memory per op.
class ElementwiseChainOperator {
 public:
  static std::unique_ptr<ElementwiseChainOperator> Create(std::vector<ElementwiseStage> stages, size_t elements,
                                                          size_t channels, std::string* error);
  void Run(const float* x, float* y, ThreadPool* pool) const;

 private:
  ElementwiseChainOperator() = default;
  std::vector<ElementwiseStage> stages_;  // binary operands repeated over chunk_rows_ rows
  size_t rows_ = 0, channels_ = 0, chunk_rows_ = 1;
  const kernels::ElementwiseKernels* kernels_ = nullptr;
};

// What a producer's output rows go through once written (fusion of the op
// that consumed them): out = clamp(out + residual, lo, hi) when `residual`,
// then out = unary(out) when `unary`. Applied to rows while they are in L1.
struct OutputStage {
  bool residual = false;
  float residual_lo = -3.402823466e+38f, residual_hi = 3.402823466e+38f;
  bool unary = false;
  kernels::UnaryOp unary_op = kernels::UnaryOp::kClamp;
  kernels::UnaryParams unary_params;

  bool empty() const { return !residual && !unary; }
};

// Applies `stage` to `count` floats at `out` (`residual`: the same floats of
// the residual tensor, or null when the stage has none).
void ApplyOutputStage(const kernels::ElementwiseKernels& k, const OutputStage& stage, float* out,
                      const float* residual, size_t count);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_ELEMENTWISE_H_
