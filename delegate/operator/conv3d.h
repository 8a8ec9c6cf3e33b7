// CONV_3D over NDHWC float32 tensors, as one 2-D conv per kernel depth
// index: output depth d sums, over kd, the 2-D conv of input depth
// d * stride + kd * dilation - padding (a zero plane where that is outside
// the input) with the weights of kd. The 2-D convs are SparseConvOperators
// (dense), chained through their residual stage: each adds the running sum
// as it writes its rows (ping-ponging between the output plane and one
// scratch plane), the first with the bias, the last with the activation.
// The sum's order is by kernel depth, then as a 2-D conv sums (the builtin
// kernel sums every tap in one pass: within float rounding). Knows nothing
// of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_CONV3D_H_
#define ACTSPARSE_DELEGATE_OPERATOR_CONV3D_H_

#include <memory>
#include <string>
#include <vector>

#include "delegate/operator/shape.h"
#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

struct Conv3DParams {
  // Each plane's 2-D conv (rows, columns, channels, kernel, strides,
  // dilations, padding, the fused activation; batch 1, one group).
  SparseConvParams plane;
  int batch = 1;
  int input_depth = 0, output_depth = 0;
  int kernel_depth = 1, stride_depth = 1, dilation_depth = 1;
  int padding_front = 0;  // zero planes before the first
};

class Conv3DOperator {
 public:
  // weights: [KD, KH, KW, C_in, C_out] (TFLite's CONV_3D filter); bias:
  // C_out floats or null.
  static std::unique_ptr<Conv3DOperator> Create(const Conv3DParams& params, const float* weights, const float* bias,
                                                std::string* error);
  // input: batch * D * H * W * C_in floats; output: batch * OD * OH * OW * C_out.
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  Conv3DOperator() = default;
  Conv3DParams params_;
  std::vector<std::unique_ptr<SparseConvOperator>> planes_;  // one per kernel depth index
  std::vector<float> zeros_;            // an input plane of padding
  mutable std::vector<float> scratch_;  // an output plane: the running sum between two planes
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_CONV3D_H_
