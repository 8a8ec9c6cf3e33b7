// Elementwise micro-kernels: binary ops over runs of floats (both operands
// vectors, or one of them a single value broadcast over the run), unary
// activations, and the two reductions softmax needs. Pure functions over
// pointers; they know nothing of shapes, broadcasting plans or threads (the
// operators own those).
//
// Every ISA file instantiates the same templates (elementwise_impl.h) with its
// own vector type, so the results are the same on every ISA up to the order
// of the reductions' partial sums.
#ifndef ACTSPARSE_DELEGATE_KERNELS_ELEMENTWISE_KERNELS_H_
#define ACTSPARSE_DELEGATE_KERNELS_ELEMENTWISE_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace actsparse {
namespace kernels {

// kSquaredDifference: (a - b) * (a - b) (SQUARED_DIFFERENCE, a LayerNorm's variance).
// The comparisons give 1.0 where a op b holds, else 0.0: the delegate keeps a
// bool tensor as floats (GREATER feeding a SELECT: ELU, softplus, Mish).
enum class BinaryOp : int {
  kAdd = 0,
  kSub,
  kMul,
  kDiv,
  kMax,
  kMin,
  kSquaredDifference,
  kGreater,
  kGreaterEqual,
  kLess,
  kLessEqual,
  kEqual,
  kNotEqual,
  kPow,  // std::pow(a, b), lane by lane (POW: x ** 3, a local response norm's ** 0.75)
  // The builtin kernels' expressions, lane by lane:
  kFloorDiv,  // floor(double(a) / double(b)) (FLOOR_DIV: torch.div(rounding_mode="floor"))
  kFloorMod,  // fmod(a, b), moved to b's sign when nonzero and of the other sign (FLOOR_MOD: torch.remainder)
  kAtan2,     // std::atan2(a, b) (ATAN2)
  // Over int32 values held as their bits in the float buffers (the
  // delegate's int tensors: grid_sample's pixel indices). Arithmetic wraps
  // as the builtin's int32 ADD / SUB / MUL do on every CPU they run on; the
  // comparisons give 1.0 / 0.0 floats, as the float ones. No clamp: `lo`
  // and `hi` are not read.
  kIntAdd,
  kIntSub,
  kIntMul,
  kIntMax,
  kIntMin,
  kIntGreater,
  kIntGreaterEqual,
  kIntLess,
  kIntLessEqual,
  kIntEqual,
  kIntNotEqual,
};
constexpr int kNumBinaryOps = 28;

// The int32 ops (kIntAdd ... kIntNotEqual).
constexpr bool IsIntBinaryOp(BinaryOp op) { return op >= BinaryOp::kIntAdd; }
// The comparisons, of floats (kGreater ... kNotEqual) or of ints (kIntGreater ... kIntNotEqual): bool results.
constexpr bool IsComparisonOp(BinaryOp op) {
  return (op >= BinaryOp::kGreater && op <= BinaryOp::kNotEqual) || op >= BinaryOp::kIntGreater;
}

// How the two operands of one run are laid out.
enum class BinaryForm : int {
  kVectorVector = 0,  // a[i] op b[i]
  kVectorScalar,      // a[i] op b[0]
  kScalarVector,      // a[0] op b[i]
};
constexpr int kNumBinaryForms = 3;

// out[i] = clamp(a op b, lo, hi) for i in [0, n). `out` may alias `a` or `b`.
using BinaryFn = void (*)(size_t n, const float* a, const float* b, float* out, float lo, float hi);

enum class UnaryOp : int {
  kClamp = 0,    // clamp(x, lo, hi): RELU, RELU6, RELU_N1_TO_1, or a copy
  kLeakyRelu,    // x > 0 ? x : alpha * x
  kSigmoid,      // 1 / (1 + exp(-x))
  kTanh,
  kHardSwish,    // x * min(max(x + 3, 0), 6) / 6
  kSilu,         // x * sigmoid(x)  (LOGISTIC then MUL in TFLite graphs)
  kExp,          // exp(x), overflowing to inf past 88.72 (EXP; softmax)
  kRsqrt,        // 1 / sqrt(x)  (RSQRT: a LayerNorm's scale)
  kGelu,         // x * Phi(x), Phi the normal distribution: 0.5 * x * erfc(-x / sqrt(2))  (GELU)
  kGeluTanh,     // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))  (GELU, approximate)
  kLog,          // log(x): -inf at 0, NaN below (LOG)
  kSqrt,         // sqrt(x), correctly rounded (SQRT: an L2 norm, a standard deviation)
  kAbs,          // |x|, the sign bit cleared (ABS)
  kNeg,          // -x (NEG)
  kSquare,       // x * x (SQUARE)
  // Fusion's products: kSoftplus and kElu the very expression of the ops
  // they replace, kMish within a few ulp of it.
  kSoftplus,     // x > alpha ? x : log(exp(x) + 1)  (SELECT(GREATER(x, alpha), x, LOG(ADD(EXP(x), 1))))
  kMish,         // x * tanh(softplus(x)), as x * n / (n + 2), n = e^x (e^x + 2); threshold alpha >= 9
  kElu,          // x >= 0 ? x : exp(x) - 1  (SELECT(GREATER_EQUAL(x, 0), x, SUB(EXP(x), 1)))
  // The builtin kernels' expressions, bit for bit.
  kFloor,        // std::floor (FLOOR)
  kCeil,         // -floor(-x) (CEIL: std::ceil)
  kRound,        // to nearest, ties to even, as the builtin's floor-based steps (ROUND: -0.3 -> +0)
  kSign,         // (x > 0) - (x < 0): 0 for zeros and NaN (SIGN)
  kSin,          // std::sin, lane by lane (SIN)
  kCos,          // std::cos, lane by lane (COS)
};
constexpr int kNumUnaryOps = 24;

struct UnaryParams {
  float alpha = 0.0f;  // kLeakyRelu; the threshold of kSoftplus and kMish
  // Applied after the op (every op): a fused activation of the producer.
  // These defaults, the float range's ends, mean none: an infinite result
  // stays infinite, as the builtin unary ops leave it (RSQRT(0)).
  float lo = -3.402823466e+38f;
  float hi = 3.402823466e+38f;
};

// y[i] = clamp(op(x[i]), lo, hi) for i in [0, n). `y` may alias `x`.
using UnaryFn = void (*)(size_t n, const float* x, float* y, const UnaryParams& params);

// Reductions over n >= 1 floats (softmax, MEAN and REDUCE_MAX over the innermost
// axis); reduce_max starts at the lowest float and keeps the larger (a NaN
// never wins).
using ReduceFn = float (*)(size_t n, const float* x);

// out[c * out_stride + r] = in[r * in_stride + c] for r < rows, c < cols
// (strides in floats): a block of a transpose. Square blocks of the vector
// width go through registers; edges one float at a time.
using TransposeFn = void (*)(size_t rows, size_t cols, const float* in, size_t in_stride, float* out,
                             size_t out_stride);

// out[r * width + c] = clamp(a[r * a_stride + c] op b[r * b_stride + c], lo,
// hi) for r < rows, c < width: BinaryFn's vector-vector form over `rows`
// runs in one call, an operand of stride 0 broadcast over the rows (a
// squeeze-excitation's channel scales). `out` may alias `a` or `b`.
using BinaryRowsFn = void (*)(size_t rows, size_t width, const float* a, size_t a_stride, const float* b,
                              size_t b_stride, float* out, float lo, float hi);

// One output pixel of a pool: out[c] = clamp(the max (kMax), the average
// (kAverage) or the sum (kSum: a StableHLO reduce-window ADD) of
// inputs[0][c] .. inputs[taps - 1][c], lo, hi) for c < width, taps >= 1.
// Sums added in the inputs' order (then divided by taps): the builtin
// kernels' order when the inputs go window row by row.
enum class PoolOp : int { kMax = 0, kAverage, kSum };
constexpr int kNumPoolOps = 3;
using PoolFn = void (*)(size_t taps, const float* const* inputs, size_t width, float* out, float lo, float hi);

// out[r * width + c] = in[r * width + c] * scale[r] for r < rows, c < width:
// a conv's packed weights (rows of output channels, one per input channel)
// times a per-input-channel factor. `out` may alias `in`.
using ScaleRowsFn = void (*)(size_t rows, size_t width, const float* in, const float* scale, float* out);

// SOFTMAX of `rows` rows of n >= 1 floats: out = exp((x - max) * beta) / sum,
// max and sum over the row (reduce_max, reduce_sum). `out` may alias `in`.
using SoftmaxRowsFn = void (*)(size_t rows, size_t n, const float* in, float* out, float beta);

// L2_NORMALIZATION of `rows` rows of n >= 1 floats: out = x / max(sqrt(sum
// of x * x), epsilon), the sum in reduce_sum's blocks. `out` may alias `in`.
using L2NormalizeRowsFn = void (*)(size_t rows, size_t n, const float* in, float* out, float epsilon);

// Long sums (sum_rows, reduce_sum) add kSumBlockRows rows (vectors) at a
// time, then each block's sum to the total: rounding grows with the block
// plus the blocks' count, not with every row. One pass in order let a masked
// map's thousands of equal pixels round the same way each time (a global
// mean 8e-6 of the output scale off, where XNNPACK was 4e-7).
constexpr size_t kSumBlockRows = 32;

// sums[c] = in[c] + in[stride + c] + ... + in[(rows - 1) * stride + c] for
// c < width, rows >= 1, in blocks of kSumBlockRows rows, each in row order:
// a MEAN over the pixels of an NHWC image (a global average pool). A
// block's sums stay in registers across its rows.
using SumRowsFn = void (*)(size_t rows, size_t width, const float* in, size_t stride, float* sums);
// max_rows, the same walk keeping the larger: out[c] starts at the lowest
// float and takes in[r * stride + c] where it is greater (REDUCE_MAX: a NaN
// never wins, as in the builtin kernel).

// out[i] = cond[i] != 0 ? a[i] : b[i] for i in [0, n): SELECT, its condition
// as floats (the comparisons' 1.0 / 0.0). `out` may alias any input.
using SelectFn = void (*)(size_t n, const float* cond, const float* a, const float* b, float* out);

// One output row of an NHWC bilinear resize, `channels` floats per pixel:
// output pixel x blends input pixels taps[x].lower and taps[x].upper of the
// rows `top` and `bottom`, weights fx = taps[x].fraction and fy:
// out = in00 * (1 - fy) * (1 - fx) + in10 * fy * (1 - fx) + in01 * (1 - fy)
// * fx + in11 * fy * fx, in that order (the builtin reference kernel's
// expression; FMA-contracted where the ISA has FMA).
struct BilinearTap {
  int32_t lower, upper;  // input columns
  float fraction;        // the upper one's weight
};
using BilinearRowFn = void (*)(size_t width, size_t channels, const float* top, const float* bottom,
                               const BilinearTap* taps, float fy, float* out);

// Copies `value` (`count` floats) into each of `rows` output rows: a masked
// conv's masked pixels, which all take one value.
using FillRowsFn = void (*)(size_t rows, float* const* outputs, const float* value, size_t count);

// CAST between float32 and int32, the ints as their bits in float buffers:
// float_to_int as the builtin CAST of TFLite 2.21 / ai-edge-litert 2.3
// (toward zero; from 2^31 up, +inf and NaN to INT32_MAX, below -2^31 to
// INT32_MIN; tflite-runtime 2.14's gives INT32_MIN past the range), and
// int_to_float to nearest even. `out` may alias `in`.
using ConvertFn = void (*)(size_t n, const float* in, float* out);

struct ElementwiseKernels {
  const char* name;
  BinaryFn binary[kNumBinaryOps][kNumBinaryForms];
  BinaryRowsFn binary_rows[kNumBinaryOps];
  UnaryFn unary[kNumUnaryOps];
  ReduceFn reduce_max;
  ReduceFn reduce_min;  // reduce_max's mirror: from the highest float, keeps the smaller
  ReduceFn reduce_sum;
  SoftmaxRowsFn softmax_rows;
  L2NormalizeRowsFn l2_normalize_rows;
  SumRowsFn sum_rows;
  SumRowsFn max_rows;
  SumRowsFn min_rows;  // max_rows's mirror
  PoolFn pool[kNumPoolOps];  // by PoolOp
  ScaleRowsFn scale_rows;
  TransposeFn transpose;
  FillRowsFn fill_rows;
  SelectFn select;
  BilinearRowFn bilinear_row;
  ConvertFn float_to_int;
  ConvertFn int_to_float;

  BinaryFn Binary(BinaryOp op, BinaryForm form) const {
    return binary[static_cast<int>(op)][static_cast<int>(form)];
  }
  BinaryRowsFn BinaryRows(BinaryOp op) const { return binary_rows[static_cast<int>(op)]; }
  UnaryFn Unary(UnaryOp op) const { return unary[static_cast<int>(op)]; }
};

// One table per ISA.
const ElementwiseKernels& ElementwiseKernelsScalar();
#if defined(__x86_64__)
const ElementwiseKernels& ElementwiseKernelsAvx2();    // only where CpuHasAvx2Fma()
const ElementwiseKernels& ElementwiseKernelsAvx512();  // only where CpuHasAvx512()
#endif
#if defined(__aarch64__)
const ElementwiseKernels& ElementwiseKernelsNeon();
#endif

// The fastest table this CPU runs (ACTSPARSE_KERNELS=scalar forces the scalar one).
const ElementwiseKernels& SelectElementwiseKernels();

}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_ELEMENTWISE_KERNELS_H_
