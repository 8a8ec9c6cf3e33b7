#include "delegate/operator/transpose_conv.h"

#include <algorithm>
#include <limits>

namespace actsparse {
namespace {

// Below this many output floats per task, splitting costs more than it saves.
constexpr size_t kMinFloatsPerTask = 16384;

// For each of `out` output positions on one axis: the (input, kernel) index
// pairs with input * stride + kernel - padding = output, input ascending (the
// order the builtin kernels add a pixel's taps in: by input row, then column).
std::vector<std::vector<std::pair<int, int>>> Taps(int out, int in, int kernel, int stride, int padding) {
  std::vector<std::vector<std::pair<int, int>>> taps(static_cast<size_t>(out));
  for (int o = 0; o < out; ++o) {
    for (int k = kernel - 1; k >= 0; --k) {
      const int scaled = o + padding - k;
      if (scaled >= 0 && scaled % stride == 0 && scaled / stride < in) taps[o].emplace_back(scaled / stride, k);
    }
  }
  return taps;
}

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
  if (p.padding_top < 0 || p.padding_left < 0) {
    *error = "transpose conv: negative padding";
    return nullptr;
  }
  if (p.depthwise && p.input_channels != p.output_channels) {
    *error = "transpose conv: a depthwise one with " + std::to_string(p.input_channels) + " input and " +
             std::to_string(p.output_channels) + " output channels";
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
  const size_t cin = static_cast<size_t>(p.input_channels), cout = static_cast<size_t>(p.output_channels);
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  if (p.depthwise) {  // [C, KH, KW, 1] -> [KH * KW][C]
    op->depthwise_weights_.resize(taps * cout);
    for (size_t c = 0; c < cout; ++c) {
      for (size_t t = 0; t < taps; ++t) op->depthwise_weights_[t * cout + c] = weights[c * taps + t];
    }
    op->multiply_rows_ = kernels::SelectElementwiseKernels().BinaryRows(kernels::BinaryOp::kMul);
  } else {
    // [C_out, KH, KW, C_in] reordered to [KH, KW, C_out, C_in]: OHWI of the 1x1 conv.
    std::vector<float> ohwi(taps * cout * cin);
    for (size_t co = 0; co < cout; ++co) {
      for (size_t t = 0; t < taps; ++t) {
        std::copy(weights + (co * taps + t) * cin, weights + (co * taps + t + 1) * cin,
                  ohwi.begin() + (t * cout + co) * cin);
      }
    }
    op->blocks_ = SparseConvOperator::Create(conv, ohwi.data(), nullptr, nullptr, nullptr, error);
    if (op->blocks_ == nullptr) return nullptr;
  }
  op->bias_.assign(static_cast<size_t>(p.output_channels), 0.0f);
  if (bias != nullptr) std::copy(bias, bias + p.output_channels, op->bias_.begin());
  op->products_.resize(static_cast<size_t>(p.batch) * p.input_height * p.input_width * conv.output_channels);
  op->row_taps_ = Taps(p.output_height, p.input_height, p.kernel_height, p.stride_height, p.padding_top);
  op->column_taps_ = Taps(p.output_width, p.input_width, p.kernel_width, p.stride_width, p.padding_left);
  const size_t pixel_products = static_cast<size_t>(conv.output_channels), kw = static_cast<size_t>(p.kernel_width);
  for (const auto& taps : op->row_taps_) {
    op->row_single_.push_back(taps.size() != 1 ? kNoSingleTap
                                               : static_cast<size_t>(taps[0].first) * p.input_width * pixel_products +
                                                     static_cast<size_t>(taps[0].second) * kw * cout);
  }
  for (const auto& taps : op->column_taps_) {
    op->column_single_.push_back(taps.size() != 1 ? kNoSingleTap
                                                  : static_cast<size_t>(taps[0].first) * pixel_products +
                                                        static_cast<size_t>(taps[0].second) * cout);
  }
  return op;
}

void TransposeConvOperator::Run(const float* input, float* output, ThreadPool* pool) {
  const TransposeConvParams& p = params_;
  const size_t cout = static_cast<size_t>(p.output_channels), kw = static_cast<size_t>(p.kernel_width);
  const size_t taps = static_cast<size_t>(p.kernel_height) * kw, pixel_products = taps * cout;
  if (p.depthwise) {
    // Each input pixel's channels times every tap's weights: its products,
    // [tap][C], one multiply each, as the 1x1 conv lays them out.
    const size_t pixels = static_cast<size_t>(p.batch) * p.input_height * p.input_width;
    constexpr float kInf = std::numeric_limits<float>::infinity();
    ParallelRanges(pool, pixels, std::max<size_t>(1, kMinFloatsPerTask / pixel_products),
                   [&](size_t begin, size_t end) {
                     for (size_t px = begin; px < end; ++px) {
                       multiply_rows_(taps, cout, input + px * cout, 0, depthwise_weights_.data(), cout,
                                      products_.data() + px * pixel_products, -kInf, kInf);
                     }
                   });
  } else {
    blocks_->Run(input, products_.data(), pool);
  }
  const size_t in_h = static_cast<size_t>(p.input_height), in_w = static_cast<size_t>(p.input_width);
  const size_t out_h = static_cast<size_t>(p.output_height), out_w = static_cast<size_t>(p.output_width);
  const float lo = p.output_min, hi = p.output_max;
  const float* bias = bias_.data();
  const size_t rows = static_cast<size_t>(p.batch) * out_h;
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / (out_w * cout)), [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      const size_t n = row / out_h;
      const std::vector<std::pair<int, int>>& vertical = row_taps_[row % out_h];
      const size_t row_single = row_single_[row % out_h];
      const float* image = products_.data() + n * in_h * in_w * pixel_products;
      float* out = output + row * out_w * cout;
      for (size_t ox = 0; ox < out_w; ++ox, out += cout) {
        if (row_single != kNoSingleTap && column_single_[ox] != kNoSingleTap) {
          // One tap (kernel == stride: a U-Net's 2x2 / 2): its run, the bias and the clamp in one pass.
          const float* tap = image + row_single + column_single_[ox];
          for (size_t co = 0; co < cout; ++co) out[co] = std::min(std::max(tap[co] + bias[co], lo), hi);
          continue;
        }
        const std::vector<std::pair<int, int>>& horizontal = column_taps_[ox];
        bool first = true;
        for (const auto& [y, ky] : vertical) {
          for (const auto& [x, kx] : horizontal) {
            const float* tap = products_.data() + ((n * in_h + static_cast<size_t>(y)) * in_w + x) * pixel_products +
                               (static_cast<size_t>(ky) * kw + static_cast<size_t>(kx)) * cout;
            if (first) {
              std::copy(tap, tap + cout, out);
              first = false;
            } else {
              for (size_t co = 0; co < cout; ++co) out[co] += tap[co];
            }
          }
        }
        // No tap reaches here (past the input): the bias alone.
        if (first) std::fill(out, out + cout, 0.0f);
        for (size_t co = 0; co < cout; ++co) out[co] = std::min(std::max(out[co] + bias[co], lo), hi);
      }
    }
  });
}

}  // namespace actsparse
