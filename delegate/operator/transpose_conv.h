// TRANSPOSE_CONV, any kernel, stride and padding: out[n, oy, ox, co] =
// act(bias[co] + sum over the taps (y, ky), (x, kx) with y * s_h + ky -
// pad_top = oy and x * s_w + kx - pad_left = ox of sum over ci of
// in[n, y, x, ci] * w[co, ky, kx, ci]). Two passes: a 1x1 conv from C_in to
// KH * KW * C_out channels (no bias; channel (ky * KW + kx) * C_out + co, so
// a tap's C_out products lie together) into a buffer, then each output
// pixel gathers its taps' runs (by input row, then column), adds the bias
// and clamps: the builtin kernel's order (the taps' sum, then the bias). Every
// product is one the builtin makes (no zeros inserted between input pixels);
// an output pixel no tap reaches (past the input, or an output larger than it
// covers) gets the bias alone. Knows nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_TRANSPOSE_CONV_H_
#define ACTSPARSE_DELEGATE_OPERATOR_TRANSPOSE_CONV_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

struct TransposeConvParams {
  int batch = 1;
  int input_height = 0, input_width = 0, input_channels = 0;
  int output_height = 0, output_width = 0, output_channels = 0;
  int kernel_height = 1, kernel_width = 1;
  int stride_height = 1, stride_width = 1;
  int padding_top = 0, padding_left = 0;
  // Output channel c reads input channel c alone (C_in == C_out; weights
  // [C, KH, KW, 1]): each pixel's products are its channels times each
  // tap's weights, no 1x1 conv.
  bool depthwise = false;
  float output_min = -3.402823466e+38f;  // fused activation as a clamp
  float output_max = 3.402823466e+38f;
};

class TransposeConvOperator {
 public:
  // weights: [C_out, KH, KW, C_in] (TFLite's layout); bias: C_out floats or null.
  static std::unique_ptr<TransposeConvOperator> Create(const TransposeConvParams& params, const float* weights,
                                                       const float* bias, std::string* error);
  // input: batch x H x W x C_in, output: batch x OH x OW x C_out (NHWC).
  void Run(const float* input, float* output, ThreadPool* pool);

 private:
  TransposeConvOperator() = default;
  TransposeConvParams params_;
  std::unique_ptr<SparseConvOperator> blocks_;  // the 1x1 conv: C_in -> C_out * KH * KW (null: depthwise)
  AlignedFloats depthwise_weights_;             // depthwise: [KH * KW][C]
  kernels::BinaryRowsFn multiply_rows_ = nullptr;
  std::vector<float> bias_;                     // C_out
  AlignedFloats products_;                      // its output, batch x H x W x (C_out * KH * KW)
  // Per output row (oy) and column (ox): the taps that reach it, as (input
  // row or column, kernel row or column), input index ascending.
  std::vector<std::vector<std::pair<int, int>>> row_taps_, column_taps_;
  // Where a row or column has exactly one tap (kernel == stride: every one
  // has), that tap's offset into an image's products; kNoSingleTap else.
  static constexpr size_t kNoSingleTap = static_cast<size_t>(-1);
  std::vector<size_t> row_single_, column_single_;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_TRANSPOSE_CONV_H_
