#include "delegate/operator/conv3d.h"

namespace actsparse {

std::unique_ptr<Conv3DOperator> Conv3DOperator::Create(const Conv3DParams& p, const float* weights, const float* bias,
                                                       std::string* error) {
  // Depths outside the input read a zero plane; the 2-D convs check rows and columns.
  const SparseConvParams& plane = p.plane;
  if (p.batch < 1 || p.input_depth < 1 || p.output_depth < 1 || p.kernel_depth < 1 || p.stride_depth < 1 ||
      p.dilation_depth < 1 || p.padding_front < 0 || weights == nullptr || plane.batch != 1 || plane.groups != 1 ||
      plane.depthwise || plane.input_channels < 1 || plane.output_channels < 1) {
    *error = "conv3d: depth " + std::to_string(p.input_depth) + " -> " + std::to_string(p.output_depth) +
             ", kernel depth " + std::to_string(p.kernel_depth) + ", stride " + std::to_string(p.stride_depth) +
             ", dilation " + std::to_string(p.dilation_depth) + ", padding " + std::to_string(p.padding_front) +
             ", channels " + std::to_string(plane.input_channels) + " -> " + std::to_string(plane.output_channels);
    return nullptr;
  }
  std::unique_ptr<Conv3DOperator> op(new Conv3DOperator());
  op->params_ = p;
  const size_t taps = static_cast<size_t>(plane.kernel_height) * plane.kernel_width;
  const size_t cin = static_cast<size_t>(plane.input_channels), cout = static_cast<size_t>(plane.output_channels);
  std::vector<float> ohwi(cout * taps * cin);
  for (int kd = 0; kd < p.kernel_depth; ++kd) {
    // [KD, KH, KW, I, O] -> this depth's [O, KH, KW, I].
    const float* dhwio = weights + static_cast<size_t>(kd) * taps * cin * cout;
    for (size_t o = 0; o < cout; ++o) {
      for (size_t t = 0; t < taps; ++t) {
        for (size_t i = 0; i < cin; ++i) ohwi[(o * taps + t) * cin + i] = dhwio[(t * cin + i) * cout + o];
      }
    }
    const bool first = kd == 0, last = kd == p.kernel_depth - 1;
    SparseConvParams q = plane;
    OutputStage stage;
    if (!(first && last)) {  // the activation goes after the last depth's sum
      q.output_min = SparseConvParams().output_min;
      q.output_max = SparseConvParams().output_max;
    }
    if (!first) {
      stage.residual = true;  // the running sum of the depths before
      if (last) {
        stage.residual_lo = plane.output_min;
        stage.residual_hi = plane.output_max;
      }
    }
    auto conv = SparseConvOperator::Create(q, ohwi.data(), first ? bias : nullptr, nullptr, nullptr, error, stage);
    if (conv == nullptr) return nullptr;
    op->planes_.push_back(std::move(conv));
  }
  op->zeros_.assign(static_cast<size_t>(plane.input_height) * plane.input_width * cin, 0.0f);
  if (p.kernel_depth > 1) op->scratch_.resize(static_cast<size_t>(plane.output_height) * plane.output_width * cout);
  return op;
}

void Conv3DOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const Conv3DParams& p = params_;
  const size_t in_plane = zeros_.size();
  const size_t out_plane =
      static_cast<size_t>(p.plane.output_height) * p.plane.output_width * p.plane.output_channels;
  for (int n = 0; n < p.batch; ++n) {
    for (int d = 0; d < p.output_depth; ++d) {
      float* out = output + (static_cast<size_t>(n) * p.output_depth + d) * out_plane;
      const float* sum = nullptr;  // the running sum, where the depth before wrote it
      for (int kd = 0; kd < p.kernel_depth; ++kd) {
        const int z = d * p.stride_depth + kd * p.dilation_depth - p.padding_front;
        const float* plane = z >= 0 && z < p.input_depth
                                 ? input + (static_cast<size_t>(n) * p.input_depth + z) * in_plane
                                 : zeros_.data();
        // Ping-pong so that the last depth writes the output plane.
        float* target = (p.kernel_depth - 1 - kd) % 2 == 0 ? out : scratch_.data();
        planes_[kd]->Run(plane, target, pool, sum);
        sum = target;
      }
    }
  }
}

}  // namespace actsparse
