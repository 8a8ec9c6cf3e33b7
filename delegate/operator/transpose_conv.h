// TRANSPOSE_CONV where each input pixel fills its own block of the output:
// kernel == stride on both axes, no padding (a U-Net decoder's 2x2 / 2
// upsampling conv). Then out[n, y * s + ky, x * s + kx, co] = act(bias[co] +
// sum over ci of in[n, y, x, ci] * w[co, ky, kx, ci]): a 1x1 conv from C_in
// to KH * KW * C_out channels (no bias; channel (ky * KW + kx) * C_out + co,
// so each output pixel's channels lie together) into a buffer, then each
// pixel's runs copied to its block with the bias and the clamp, the
// builtin kernel's order (the sum, then the bias). Output rows or columns past the input's reach (a larger
// output shape) get the bias alone. Overlapping windows (kernel > stride)
// are not taken: Create fails, and the op stays with the runtime. Knows
// nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_TRANSPOSE_CONV_H_
#define ACTSPARSE_DELEGATE_OPERATOR_TRANSPOSE_CONV_H_

#include <memory>
#include <string>
#include <vector>

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
  std::unique_ptr<SparseConvOperator> blocks_;  // the 1x1 conv: C_in -> C_out * KH * KW
  std::vector<float> bias_;                     // C_out
  AlignedFloats products_;                      // its output, batch x H x W x (C_out * KH * KW)
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_TRANSPOSE_CONV_H_
