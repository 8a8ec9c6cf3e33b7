// Portable scalar micro-kernels: the reference the SIMD kernels are tested
// against, and the fallback on CPUs without them.
#include <algorithm>
#include <cstring>
#include <vector>

#include "delegate/kernels/sparse_conv_kernels.h"

namespace actsparse {
namespace kernels {

void ConvRowsScalar(const RowsArgs& args, size_t in_channels, size_t out_channels) {
  std::vector<float> acc(out_channels);
  for (size_t r = 0; r < args.rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* const* taps = args.indirection + r * args.taps;
    const float* w = args.packed_weights;
    for (size_t t = 0; t < args.taps; ++t) {
      const float* in = taps[t];
      for (size_t ci = 0; ci < in_channels; ++ci) {
        const float x = in[ci];
        for (size_t co = 0; co < out_channels; ++co) acc[co] += x * w[co];
        w += out_channels;
      }
    }
    float* out = args.outputs[r];
    for (size_t co = 0; co < out_channels; ++co) {
      const float v = (acc[co] + args.conv_bias[co]) + args.add_bias[co];
      out[co] = std::min(std::max(v, args.out_min), args.out_max);
    }
  }
}

void DepthwiseRowsScalar(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  const size_t out_channels = in_channels * multiplier;
  std::vector<float> acc(out_channels);
  for (size_t r = 0; r < args.rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* const* taps = args.indirection + r * args.taps;
    for (size_t t = 0; t < args.taps; ++t) {
      const float* in = taps[t];
      const float* w = args.packed_weights + t * out_channels;
      for (size_t c = 0; c < out_channels; ++c) acc[c] += in[c / multiplier] * w[c];
    }
    float* out = args.outputs[r];
    for (size_t c = 0; c < out_channels; ++c) {
      const float v = (acc[c] + args.conv_bias[c]) + args.add_bias[c];
      out[c] = std::min(std::max(v, args.out_min), args.out_max);
    }
  }
}

void FillRows(size_t rows, float* const* outputs, const float* value, size_t out_channels) {
  for (size_t r = 0; r < rows; ++r) std::memcpy(outputs[r], value, out_channels * sizeof(float));
}

}  // namespace kernels
}  // namespace actsparse
