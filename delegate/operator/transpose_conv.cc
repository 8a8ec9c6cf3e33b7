#include "delegate/operator/transpose_conv.h"

#include <algorithm>

namespace actsparse {
namespace {

// Below this many output floats per task, splitting costs more than it saves.
constexpr size_t kMinFloatsPerTask = 16384;

}  // namespace

std::unique_ptr<TransposeConvOperator> TransposeConvOperator::Create(const TransposeConvParams& p,
                                                                     const float* weights, const float* bias,
                                                                     std::string* error) {
  const bool positive = p.batch > 0 && p.input_height > 0 && p.input_width > 0 && p.input_channels > 0 &&
                        p.output_height > 0 && p.output_width > 0 && p.output_channels > 0 &&
                        p.kernel_height > 0 && p.kernel_width > 0 && p.stride_height > 0 && p.stride_width > 0;
  if (!positive || weights == nullptr) {
    *error = "transpose conv: non-positive size, kernel or stride, or no weights";
    return nullptr;
  }
  if (p.kernel_height != p.stride_height || p.kernel_width != p.stride_width || p.padding_top != 0 ||
      p.padding_left != 0) {
    *error = "transpose conv: kernel " + std::to_string(p.kernel_height) + "x" + std::to_string(p.kernel_width) +
             ", stride " + std::to_string(p.stride_height) + "x" + std::to_string(p.stride_width) + ", padding " +
             std::to_string(p.padding_top) + "," + std::to_string(p.padding_left) +
             ": only kernel == stride without padding (no overlapping windows) is run";
    return nullptr;
  }
  if (p.output_height < p.input_height * p.stride_height || p.output_width < p.input_width * p.stride_width) {
    *error = "transpose conv: output " + std::to_string(p.output_height) + "x" + std::to_string(p.output_width) +
             " is smaller than the input's blocks";
    return nullptr;
  }
  std::unique_ptr<TransposeConvOperator> op(new TransposeConvOperator());
  op->params_ = p;
  SparseConvParams conv;
  conv.batch = p.batch;
  conv.input_height = conv.output_height = p.input_height;
  conv.input_width = conv.output_width = p.input_width;
  conv.input_channels = p.input_channels;
  conv.output_channels = p.output_channels * p.kernel_height * p.kernel_width;
  // [C_out, KH, KW, C_in] reordered to [KH, KW, C_out, C_in]: OHWI of the 1x1 conv.
  const size_t cin = static_cast<size_t>(p.input_channels), cout = static_cast<size_t>(p.output_channels);
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  std::vector<float> ohwi(taps * cout * cin);
  for (size_t co = 0; co < cout; ++co) {
    for (size_t t = 0; t < taps; ++t) {
      std::copy(weights + (co * taps + t) * cin, weights + (co * taps + t + 1) * cin, ohwi.begin() + (t * cout + co) * cin);
    }
  }
  op->blocks_ = SparseConvOperator::Create(conv, ohwi.data(), nullptr, nullptr, nullptr, error);
  if (op->blocks_ == nullptr) return nullptr;
  op->bias_.assign(static_cast<size_t>(p.output_channels), 0.0f);
  if (bias != nullptr) std::copy(bias, bias + p.output_channels, op->bias_.begin());
  op->products_.resize(static_cast<size_t>(p.batch) * p.input_height * p.input_width * conv.output_channels);
  return op;
}

void TransposeConvOperator::Run(const float* input, float* output, ThreadPool* pool) {
  const TransposeConvParams& p = params_;
  blocks_->Run(input, products_.data(), pool);
  const size_t cout = static_cast<size_t>(p.output_channels);
  const size_t kh = static_cast<size_t>(p.kernel_height), kw = static_cast<size_t>(p.kernel_width);
  const size_t in_h = static_cast<size_t>(p.input_height), in_w = static_cast<size_t>(p.input_width);
  const size_t out_h = static_cast<size_t>(p.output_height), out_w = static_cast<size_t>(p.output_width);
  const size_t pixel_products = cout * kh * kw;
  const float lo = p.output_min, hi = p.output_max;
  const size_t rows = static_cast<size_t>(p.batch) * out_h;
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / (out_w * cout)), [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      const size_t n = row / out_h, oy = row % out_h;
      const size_t y = oy / kh, ky = oy % kh;
      float* out = output + row * out_w * cout;
      for (size_t ox = 0; ox < out_w; ++ox, out += cout) {
        const size_t x = ox / kw, kx = ox % kw;
        if (y >= in_h || x >= in_w) {
          // Past the input's blocks: nothing reaches here but the bias.
          for (size_t co = 0; co < cout; ++co) out[co] = std::min(std::max(bias_[co], lo), hi);
          continue;
        }
        const float* products =
            products_.data() + ((n * in_h + y) * in_w + x) * pixel_products + (ky * kw + kx) * cout;
        for (size_t co = 0; co < cout; ++co) out[co] = std::min(std::max(products[co] + bias_[co], lo), hi);
      }
    }
  });
}

}  // namespace actsparse
