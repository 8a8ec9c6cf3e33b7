#include "delegate/operator/sparse_conv.h"

#include <algorithm>


namespace actsparse {
namespace {

// Output pixels per task: large enough to amortise the task, small enough
// that two threads share the work evenly.
constexpr size_t kRowsPerTask = 32;

}  // namespace

std::unique_ptr<SparseConvOperator> SparseConvOperator::Create(
    const SparseConvParams& p, const float* weights, const float* conv_bias,
    const float* add_bias, const uint8_t* mask, std::string* error) {
  const bool positive = p.batch > 0 && p.input_height > 0 && p.input_width > 0 &&
                        p.input_channels > 0 && p.output_height > 0 && p.output_width > 0 &&
                        p.output_channels > 0 && p.kernel_height > 0 && p.kernel_width > 0 &&
                        p.stride_height > 0 && p.stride_width > 0 && p.dilation_height > 0 &&
                        p.dilation_width > 0 && p.padding_top >= 0 && p.padding_left >= 0;
  if (!positive) {
    *error = "sparse conv: non-positive size, stride, dilation or negative padding";
    return nullptr;
  }
  if (p.depthwise && p.output_channels != p.input_channels * p.depth_multiplier) {
    *error = "sparse conv: depthwise output channels != input channels * depth multiplier";
    return nullptr;
  }
  if (weights == nullptr || mask == nullptr) {
    *error = "sparse conv: missing weights or mask";
    return nullptr;
  }
  std::unique_ptr<SparseConvOperator> op(new SparseConvOperator());
  op->params_ = p;
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  const size_t cin = p.input_channels, cout = p.output_channels;
  if (p.depthwise) {
    // [1, KH, KW, C*M] is already [taps][out_channels].
    op->packed_weights_.assign(weights, weights + taps * cout);
    op->depthwise_rows_ = kernels::SelectDepthwiseRows(nullptr);
  } else {
    op->packed_weights_.resize(kernels::PackedConvWeightsSize(taps, cin, cout));
    kernels::PackConvWeights(weights, taps, cin, cout, op->packed_weights_.data());
    op->conv_rows_ = kernels::SelectConvRows(nullptr);
  }
  op->conv_bias_.assign(cout, 0.0f);
  op->add_bias_.assign(cout, 0.0f);
  if (conv_bias) op->conv_bias_.assign(conv_bias, conv_bias + cout);
  if (add_bias) op->add_bias_.assign(add_bias, add_bias + cout);
  // A masked pixel is ((0 + cb) * 0 + ab) = ab through the activation.
  op->masked_value_.resize(cout);
  for (size_t c = 0; c < cout; ++c) {
    op->masked_value_[c] = std::min(std::max(op->add_bias_[c], p.output_min), p.output_max);
  }
  const size_t pixels = static_cast<size_t>(p.output_height) * p.output_width;
  for (size_t i = 0; i < pixels; ++i) {
    (mask[i] ? op->active_pixels_ : op->masked_pixels_).push_back(static_cast<uint32_t>(i));
  }
  op->zero_row_.assign(cin, 0.0f);
  return op;
}

void SparseConvOperator::PlanIndirection(const float* input) {
  const SparseConvParams& p = params_;
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  const size_t image = static_cast<size_t>(p.input_height) * p.input_width * p.input_channels;
  indirection_.resize(static_cast<size_t>(p.batch) * active_pixels_.size() * taps);
  const float** out = indirection_.data();
  for (int n = 0; n < p.batch; ++n) {
    const float* base = input + n * image;
    for (uint32_t pixel : active_pixels_) {
      const int oy = static_cast<int>(pixel) / p.output_width;
      const int ox = static_cast<int>(pixel) % p.output_width;
      for (int ky = 0; ky < p.kernel_height; ++ky) {
        const int iy = oy * p.stride_height - p.padding_top + ky * p.dilation_height;
        for (int kx = 0; kx < p.kernel_width; ++kx) {
          const int ix = ox * p.stride_width - p.padding_left + kx * p.dilation_width;
          const bool inside = iy >= 0 && iy < p.input_height && ix >= 0 && ix < p.input_width;
          *out++ = inside ? base + (static_cast<size_t>(iy) * p.input_width + ix) * p.input_channels
                          : zero_row_.data();
        }
      }
    }
  }
  planned_input_ = input;
}

void SparseConvOperator::Run(const float* input, float* output, ThreadPool* pool) {
  const SparseConvParams& p = params_;
  // The runtime may move its arena between invocations; re-plan when it does.
  if (input != planned_input_) PlanIndirection(input);
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  const size_t cout = p.output_channels;
  const size_t pixels_per_image = static_cast<size_t>(p.output_height) * p.output_width;
  const size_t active = active_pixels_.size(), masked = masked_pixels_.size();
  const size_t active_tasks = (active + kRowsPerTask - 1) / kRowsPerTask;
  const size_t masked_tasks = (masked + kRowsPerTask * 4 - 1) / (kRowsPerTask * 4);
  const size_t tasks_per_image = active_tasks + masked_tasks;

  auto task = [&](size_t index) {
    const size_t n = index / tasks_per_image;
    const size_t t = index % tasks_per_image;
    float* image_out = output + n * pixels_per_image * cout;
    float* rows[kRowsPerTask * 4];
    if (t < active_tasks) {
      const size_t first = t * kRowsPerTask;
      const size_t count = std::min(kRowsPerTask, active - first);
      for (size_t r = 0; r < count; ++r) rows[r] = image_out + active_pixels_[first + r] * cout;
      kernels::RowsArgs args;
      args.rows = count;
      args.taps = taps;
      args.indirection = indirection_.data() + (n * active + first) * taps;
      args.outputs = rows;
      args.packed_weights = packed_weights_.data();
      args.conv_bias = conv_bias_.data();
      args.add_bias = add_bias_.data();
      args.out_min = p.output_min;
      args.out_max = p.output_max;
      if (p.depthwise) {
        depthwise_rows_(args, p.input_channels, p.depth_multiplier);
      } else {
        conv_rows_(args, p.input_channels, cout);
      }
    } else {
      const size_t first = (t - active_tasks) * kRowsPerTask * 4;
      const size_t count = std::min(kRowsPerTask * 4, masked - first);
      for (size_t r = 0; r < count; ++r) rows[r] = image_out + masked_pixels_[first + r] * cout;
      kernels::FillRows(count, rows, masked_value_.data(), cout);
    }
  };
  const size_t total = static_cast<size_t>(p.batch) * tasks_per_image;
  if (pool != nullptr) {
    pool->ParallelFor(total, task);
  } else {
    for (size_t i = 0; i < total; ++i) task(i);
  }
}

}  // namespace actsparse
