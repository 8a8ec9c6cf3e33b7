#include "delegate/operator/pooling.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace actsparse {
namespace {

constexpr size_t kMinFloatsPerTask = 16384;
constexpr float kInf = std::numeric_limits<float>::infinity();

// The elements of `shape` before dims [first, last], along them, and after
// them: a reduction's or a scan's outer rows, its length, its inner run.
struct AxisSplit {
  size_t outer = 1, along = 1, inner = 1;
};
AxisSplit SplitAt(const Shape& shape, int first, int last) {
  AxisSplit s;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    (i < first ? s.outer : i <= last ? s.along : s.inner) *= static_cast<size_t>(shape[i]);
  }
  return s;
}

}  // namespace

bool PoolWindowsSeeInput(const Pool2DParams& p, std::string* error) {
  for (int o : {0, p.output_height - 1}) {
    const int y0 = o * p.stride_height - p.padding_top;
    if (y0 + p.filter_height <= 0 || y0 >= p.input_height) {
      *error = "pool: an output row has a window entirely in the padding";
      return false;
    }
  }
  for (int o : {0, p.output_width - 1}) {
    const int x0 = o * p.stride_width - p.padding_left;
    if (x0 + p.filter_width <= 0 || x0 >= p.input_width) {
      *error = "pool: an output column has a window entirely in the padding";
      return false;
    }
  }
  return true;
}

std::unique_ptr<Pool2DOperator> Pool2DOperator::Create(const Pool2DParams& p, std::string* error) {
  if (p.batch < 1 || p.input_height < 1 || p.input_width < 1 || p.channels < 1 || p.output_height < 1 ||
      p.output_width < 1 || p.filter_height < 1 || p.filter_width < 1 || p.stride_height < 1 ||
      p.stride_width < 1 || p.padding_top < 0 || p.padding_left < 0) {
    *error = "pool: non-positive size, filter or stride, or negative padding";
    return nullptr;
  }
  if (!PoolWindowsSeeInput(p, error)) return nullptr;
  std::unique_ptr<Pool2DOperator> op(new Pool2DOperator());
  op->params_ = p;
  op->k_ = &kernels::SelectElementwiseKernels();
  return op;
}

void Pool2DOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const Pool2DParams& p = params_;
  const size_t c = p.channels;
  const size_t rows = static_cast<size_t>(p.batch) * p.output_height;
  const size_t row_floats = static_cast<size_t>(p.output_width) * c;
  const kernels::PoolFn pool_pixel = k_->pool[static_cast<int>(p.op)];
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / row_floats), [&](size_t begin, size_t end) {
    std::vector<const float*> window(static_cast<size_t>(p.filter_height) * p.filter_width);
    for (size_t row = begin; row < end; ++row) {
      const int n = static_cast<int>(row / p.output_height), oy = static_cast<int>(row % p.output_height);
      const int y0 = oy * p.stride_height - p.padding_top;
      const int ys = std::max(y0, 0), ye = std::min(y0 + p.filter_height, p.input_height);
      const float* image = input + static_cast<size_t>(n) * p.input_height * p.input_width * c;
      for (int ox = 0; ox < p.output_width; ++ox) {
        const int x0 = ox * p.stride_width - p.padding_left;
        const int xs = std::max(x0, 0), xe = std::min(x0 + p.filter_width, p.input_width);
        // The valid positions in the builtin kernels' order: window rows, then columns.
        size_t taps = 0;
        for (int y = ys; y < ye; ++y) {
          for (int x = xs; x < xe; ++x) window[taps++] = image + (static_cast<size_t>(y) * p.input_width + x) * c;
        }
        pool_pixel(taps, window.data(), c, output + (row * p.output_width + ox) * c, p.output_min, p.output_max);
      }
    }
  });
}

std::unique_ptr<ReduceOperator> ReduceOperator::Create(const Shape& input, int first_axis, int last_axis,
                                                       std::string* error, Reduction reduction) {
  const int rank = static_cast<int>(input.size());
  if (first_axis < 0 || last_axis < first_axis || last_axis >= rank) {
    *error = "mean: axes " + std::to_string(first_axis) + ".." + std::to_string(last_axis) +
             " are not a range of " + ShapeText(input);
    return nullptr;
  }
  std::unique_ptr<ReduceOperator> op(new ReduceOperator());
  const AxisSplit split = SplitAt(input, first_axis, last_axis);
  op->outer_ = split.outer;
  op->reduced_ = split.along;
  op->inner_ = split.inner;
  if (op->reduced_ == 0) {
    *error = "mean: reduces over no elements in " + ShapeText(input);
    return nullptr;
  }
  op->reduction_ = reduction;
  op->k_ = &kernels::SelectElementwiseKernels();
  return op;
}

std::unique_ptr<ReduceOperator> ReduceOperator::Create(const Shape& input, const std::vector<int>& axes,
                                                       std::string* error, Reduction reduction) {
  const int rank = static_cast<int>(input.size());
  bool valid = !axes.empty();
  for (size_t i = 0; valid && i < axes.size(); ++i) {
    valid = axes[i] >= 0 && axes[i] < rank && (i == 0 || axes[i] > axes[i - 1]);
  }
  if (!valid) {
    *error = "mean: axes " + ShapeText(axes) + " are not sorted, distinct axes of " + ShapeText(input);
    return nullptr;
  }
  if (axes.back() - axes.front() + 1 == static_cast<int>(axes.size())) {
    return Create(input, axes.front(), axes.back(), error, reduction);
  }
  std::vector<int> perm;
  for (int d = 0; d < rank; ++d) {
    if (!std::binary_search(axes.begin(), axes.end(), d)) perm.push_back(d);
  }
  perm.insert(perm.end(), axes.begin(), axes.end());
  Shape reordered;
  for (int d : perm) reordered.push_back(input[d]);
  auto gather = TransposeOperator::Create(input, perm, error);
  if (gather == nullptr) return nullptr;
  auto op = Create(reordered, rank - static_cast<int>(axes.size()), rank - 1, error, reduction);
  if (op == nullptr) return nullptr;
  op->gather_ = std::move(gather);
  op->gathered_.resize(NumElements(input));
  return op;
}

std::unique_ptr<CumsumOperator> CumsumOperator::Create(const Shape& input, int axis, bool exclusive, bool reverse,
                                                       std::string* error) {
  const int rank = static_cast<int>(input.size());
  if (axis < 0 || axis >= rank) {
    *error = "cumsum: axis " + std::to_string(axis) + " is not an axis of " + ShapeText(input);
    return nullptr;
  }
  std::unique_ptr<CumsumOperator> op(new CumsumOperator());
  const AxisSplit split = SplitAt(input, axis, axis);
  op->outer_ = split.outer;
  op->length_ = split.along;
  op->inner_ = split.inner;
  op->exclusive_ = exclusive;
  op->reverse_ = reverse;
  op->add_ = kernels::SelectElementwiseKernels().Binary(kernels::BinaryOp::kAdd, kernels::BinaryForm::kVectorVector);
  return op;
}

void CumsumOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const size_t block = length_ * inner_;
  ParallelRanges(pool, outer_, std::max<size_t>(1, kMinFloatsPerTask / block), [&](size_t begin, size_t end) {
    for (size_t o = begin; o < end; ++o) {
      const float* in = input + o * block;
      float* out = output + o * block;
      // Row i of the axis, walking from its start (or its end, reversed).
      auto row = [&](size_t step) { return (reverse_ ? length_ - 1 - step : step) * inner_; };
      if (exclusive_) {
        std::fill(out + row(0), out + row(0) + inner_, 0.0f);
        for (size_t s = 1; s < length_; ++s) {
          add_(inner_, out + row(s - 1), in + row(s - 1), out + row(s), -__builtin_inff(), __builtin_inff());
        }
      } else {
        std::copy(in + row(0), in + row(0) + inner_, out + row(0));
        for (size_t s = 1; s < length_; ++s) {
          add_(inner_, out + row(s - 1), in + row(s), out + row(s), -__builtin_inff(), __builtin_inff());
        }
      }
    }
  });
}

std::unique_ptr<ArgReduceOperator> ArgReduceOperator::Create(const Shape& input, int axis, bool max,
                                                             std::string* error) {
  const int rank = static_cast<int>(input.size());
  if (axis < 0 || axis >= rank) {
    *error = "arg reduction: axis " + std::to_string(axis) + " is not an axis of " + ShapeText(input);
    return nullptr;
  }
  std::unique_ptr<ArgReduceOperator> op(new ArgReduceOperator());
  const AxisSplit split = SplitAt(input, axis, axis);
  op->outer_ = split.outer;
  op->reduced_ = split.along;
  op->inner_ = split.inner;
  op->max_ = max;
  return op;
}

void ArgReduceOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const size_t per_outer = reduced_ * inner_;
  ParallelRanges(pool, outer_, std::max<size_t>(1, kMinFloatsPerTask / per_outer), [&](size_t begin, size_t end) {
    std::vector<float> best(inner_);
    for (size_t o = begin; o < end; ++o) {
      const float* in = input + o * per_outer;
      int32_t* index = reinterpret_cast<int32_t*>(output) + o * inner_;
      std::copy(in, in + inner_, best.begin());
      std::fill(index, index + inner_, 0);
      // Branch-free, so the compiler vectorizes the walk along the rows.
      for (size_t r = 1; r < reduced_; ++r) {
        const float* row = in + r * inner_;
        const int32_t at = static_cast<int32_t>(r);
        if (max_) {
          for (size_t i = 0; i < inner_; ++i) {
            const bool better = row[i] > best[i];
            best[i] = better ? row[i] : best[i];
            index[i] = better ? at : index[i];
          }
        } else {
          for (size_t i = 0; i < inner_; ++i) {
            const bool better = row[i] < best[i];
            best[i] = better ? row[i] : best[i];
            index[i] = better ? at : index[i];
          }
        }
      }
    }
  });
}

void ReduceOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  if (gather_ != nullptr) {
    gather_->Run(input, gathered_.data(), pool);
    input = gathered_.data();
  }
  const bool max = reduction_ == Reduction::kMax, min = reduction_ == Reduction::kMin;
  const float count = reduction_ == Reduction::kMean ? static_cast<float>(reduced_) : 1.0f;
  const bool divide_by_count = reduction_ == Reduction::kMean;
  const kernels::BinaryFn combine = k_->Binary(
      max ? kernels::BinaryOp::kMax : min ? kernels::BinaryOp::kMin : kernels::BinaryOp::kAdd,
      kernels::BinaryForm::kVectorVector);
  const kernels::SumRowsFn reduce_rows = max ? k_->max_rows : min ? k_->min_rows : k_->sum_rows;
  const kernels::BinaryFn divide = k_->Binary(kernels::BinaryOp::kDiv, kernels::BinaryForm::kVectorScalar);
  if (inner_ == 1) {
    // Each output is a contiguous run of `reduced_` floats.
    ParallelRanges(pool, outer_, std::max<size_t>(1, kMinFloatsPerTask / reduced_), [&](size_t begin, size_t end) {
      for (size_t o = begin; o < end; ++o) {
        const float* in = input + o * reduced_;
        output[o] = max ? k_->reduce_max(reduced_, in) : min ? k_->reduce_min(reduced_, in)
                                                             : k_->reduce_sum(reduced_, in) / count;
      }
    });
    return;
  }
  const size_t threads = pool != nullptr ? static_cast<size_t>(pool->num_threads()) : 1;
  if (threads > 1 && outer_ < threads && reduced_ >= 2 * threads && reduced_ * inner_ >= 2 * kMinFloatsPerTask) {
    // Few outputs, many rows (a global average pool at batch 1, as in
    // squeeze-excitation): each thread reduces a range of the rows into its
    // own partials, then the partials are combined in order. Each thread then
    // reads the rows it most likely wrote in the step before (the producing
    // conv splits its rows alike) instead of one thread reading them all,
    // half from the other core (MobileNetV3's pools ran slower at 2 threads
    // than at 1). Another summation order than one pass: within the tolerance.
    partials_.resize(threads * inner_);
    for (size_t o = 0; o < outer_; ++o) {
      const float* in = input + o * reduced_ * inner_;
      float* out = output + o * inner_;
      pool->ParallelFor(threads, [&](size_t part) {
        const size_t r0 = part * reduced_ / threads, r1 = (part + 1) * reduced_ / threads;
        reduce_rows(r1 - r0, inner_, in + r0 * inner_, inner_, partials_.data() + part * inner_);
      });
      std::memcpy(out, partials_.data(), inner_ * sizeof(float));
      for (size_t part = 1; part < threads; ++part) {
        combine(inner_, out, partials_.data() + part * inner_, out, -kInf, kInf);
      }
      if (divide_by_count) divide(inner_, out, &count, out, -kInf, kInf);
    }
    return;
  }
  // Whole rows of `inner_` floats, in the reduced axes' order.
  ParallelRanges(pool, outer_, std::max<size_t>(1, kMinFloatsPerTask / (reduced_ * inner_)),
                 [&](size_t begin, size_t end) {
                   for (size_t o = begin; o < end; ++o) {
                     const float* in = input + o * reduced_ * inner_;
                     float* out = output + o * inner_;
                     reduce_rows(reduced_, inner_, in, inner_, out);
                     if (divide_by_count) divide(inner_, out, &count, out, -kInf, kInf);
                   }
                 });
}

std::unique_ptr<SoftmaxOperator> SoftmaxOperator::Create(size_t rows, size_t row, float beta) {
  std::unique_ptr<SoftmaxOperator> op(new SoftmaxOperator());
  op->rows_ = rows;
  op->row_ = row;
  op->beta_ = beta;
  op->k_ = &kernels::SelectElementwiseKernels();
  return op;
}

void SoftmaxOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  ParallelRanges(pool, rows_, std::max<size_t>(1, kMinFloatsPerTask / row_), [&](size_t begin, size_t end) {
    k_->softmax_rows(end - begin, row_, input + begin * row_, output + begin * row_, beta_);
  });
}

L2NormalizationOperator::L2NormalizationOperator(size_t rows, size_t row)
    : rows_(rows), row_(row), k_(&kernels::SelectElementwiseKernels()) {}

void L2NormalizationOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  ParallelRanges(pool, rows_, std::max<size_t>(1, kMinFloatsPerTask / row_), [&](size_t begin, size_t end) {
    k_->l2_normalize_rows(end - begin, row_, input + begin * row_, output + begin * row_, kL2NormEpsilon);
  });
}

}  // namespace actsparse
