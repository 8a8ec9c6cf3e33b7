#include "delegate/operator/layout.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace actsparse {
namespace {

constexpr size_t kMinFloatsPerTask = 16384;
// Runs of fewer floats are copied by a loop, not a call each.
constexpr size_t kShortRun = 8;

// Decomposes a flat index of `extents` (outermost first) into coordinates.
void Unflatten(size_t flat, const std::vector<size_t>& extents, size_t* coords) {
  for (size_t j = extents.size(); j-- > 0;) {
    coords[j] = flat % extents[j];
    flat /= extents[j];
  }
}

// Calls body(row, offset) for rows [begin, end) of the row-major index
// space `outer`, offset = sum of coordinate j times stride[j]: an odometer,
// one add per row and a carry per dim that wraps, where dividing each row
// index by every extent cost a 6-D transpose of 4-float rows (Swin's
// windows back to NCHW) 12 ns a row.
template <class Body>
void ForEachRow(const std::vector<size_t>& outer, const size_t* stride, size_t begin, size_t end, Body&& body) {
  const size_t dims = outer.size();
  size_t coords[kMaxRank] = {};
  Unflatten(begin, outer, coords);
  size_t offset = 0;
  for (size_t j = 0; j < dims; ++j) offset += coords[j] * stride[j];
  for (size_t row = begin; row < end; ++row) {
    body(row, offset);
    for (size_t j = dims; j-- > 0;) {
      offset += stride[j];
      if (++coords[j] < outer[j]) break;
      offset -= outer[j] * stride[j];
      coords[j] = 0;
    }
  }
}

// Floats from one index of each dim to the next in a dense row-major tensor.
std::vector<size_t> RowMajorStrides(const Shape& shape) {
  std::vector<size_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * static_cast<size_t>(shape[i]);
  return strides;
}

}  // namespace

void StridedCopy::AppendDim(size_t dim_extent, size_t dim_stride) {
  if (dim_extent == 1) return;
  total *= dim_extent;
  if (!extent.empty() && stride.back() == dim_stride * dim_extent) {
    extent.back() *= dim_extent;
    stride.back() = dim_stride;
  } else {
    extent.push_back(dim_extent);
    stride.push_back(dim_stride);
  }
}

void StridedCopy::Run(const float* input, float* output, ThreadPool* pool) const {
  input += offset;
  if (extent.empty()) {  // every dim of 1: one float
    *output = *input;
    return;
  }
  const size_t inner = extent.back(), inner_stride = stride.back();
  const std::vector<size_t> outer(extent.begin(), extent.end() - 1);
  const size_t rows = total / inner;
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / inner), [&](size_t begin, size_t end) {
    ForEachRow(outer, stride.data(), begin, end, [&](size_t row, size_t at) {
      float* out = output + row * inner;
      const float* in = input + at;
      if (inner_stride == 1) {
        std::memcpy(out, in, inner * sizeof(float));
      } else if (inner_stride == 0) {
        std::fill(out, out + inner, *in);
      } else {
        const ptrdiff_t step = static_cast<ptrdiff_t>(inner_stride);  // negative: walking backwards
        for (size_t i = 0; i < inner; ++i) out[i] = in[static_cast<ptrdiff_t>(i) * step];
      }
    });
  });
}

std::unique_ptr<PadOperator> PadOperator::Create(const Shape& input,
                                                 const std::vector<std::pair<int, int>>& amounts, float value,
                                                 std::string* error, PadMode mode) {
  if (input.empty() || input.size() > static_cast<size_t>(kMaxRank) || amounts.size() != input.size()) {
    *error = "pad: " + std::to_string(amounts.size()) + " padding pairs for input " + ShapeText(input);
    return nullptr;
  }
  std::unique_ptr<PadOperator> op(new PadOperator());
  op->value_ = value;
  op->mode_ = mode;
  for (size_t i = 0; i < input.size(); ++i) {
    if (amounts[i].first < 0 || amounts[i].second < 0) {
      *error = "pad: negative padding of dim " + std::to_string(i);
      return nullptr;
    }
    if (mode != PadMode::kConstant && std::max(amounts[i].first, amounts[i].second) > MaxMirrorPadding(mode, input[i])) {
      *error = "mirror pad: padding " + std::to_string(std::max(amounts[i].first, amounts[i].second)) +
               " of dim " + std::to_string(i) + " reaches past the input " + ShapeText(input) +
               (mode == PadMode::kReflect ? " (reflect: at most the size - 1)" : " (symmetric: at most the size)");
      return nullptr;
    }
    op->output_.push_back(input[i] + amounts[i].first + amounts[i].second);
    op->input_.push_back(static_cast<size_t>(input[i]));
    op->amounts_.emplace_back(static_cast<size_t>(amounts[i].first), static_cast<size_t>(amounts[i].second));
  }
  while (op->input_.size() > 1 && op->amounts_.back().first == 0 && op->amounts_.back().second == 0) {
    const size_t inner = op->input_.back();
    op->input_.pop_back();
    op->amounts_.pop_back();
    if (mode == PadMode::kConstant) {
      op->input_.back() *= inner;
      op->amounts_.back().first *= inner;
      op->amounts_.back().second *= inner;
    } else {
      // A mirror reverses whole elements of the padded dim, not floats.
      op->block_ *= inner;
    }
  }
  for (size_t i = 0; i < op->input_.size(); ++i) {
    op->padded_.push_back(op->input_[i] + op->amounts_[i].first + op->amounts_[i].second);
  }
  return op;
}

void PadOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  if (mode_ == PadMode::kConstant) {
    RunConstant(input, output, pool);
  } else {
    RunMirrored(input, output, pool);
  }
}

template <class RowFn>
void PadOperator::ForEachOutputRow(float* output, ThreadPool* pool, RowFn&& fn) const {
  const size_t rank = padded_.size();
  const size_t out_row = padded_[rank - 1] * block_;
  const std::vector<size_t> outer(padded_.begin(), padded_.end() - 1);
  size_t rows = 1;
  for (size_t extent : outer) rows *= extent;
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / out_row), [&](size_t begin, size_t end) {
    size_t coords[kMaxRank] = {};
    for (size_t row = begin; row < end; ++row) {
      Unflatten(row, outer, coords);
      fn(coords, output + row * out_row);
    }
  });
}

void PadOperator::RunConstant(const float* input, float* output, ThreadPool* pool) const {
  // Inside the input on every outer dim, a row is [value x before, the input
  // row, value x after]; else all value.
  const size_t last = padded_.size() - 1;
  const size_t out_row = padded_[last], in_row = input_[last], before = amounts_[last].first;
  ForEachOutputRow(output, pool, [&](const size_t* coords, float* out) {
    size_t in_offset = 0;
    for (size_t j = 0; j < last; ++j) {
      if (coords[j] < amounts_[j].first || coords[j] >= amounts_[j].first + input_[j]) {
        std::fill(out, out + out_row, value_);
        return;
      }
      in_offset = in_offset * input_[j] + (coords[j] - amounts_[j].first);
    }
    std::fill(out, out + before, value_);
    std::memcpy(out + before, input + in_offset * in_row, in_row * sizeof(float));
    std::fill(out + before + in_row, out + out_row, value_);
  });
}

size_t PadOperator::MirrorIndex(size_t dim, size_t padded) const {
  const size_t before = amounts_[dim].first, n = input_[dim];
  const size_t edge = mode_ == PadMode::kReflect ? 0 : 1;  // symmetric repeats the edge element
  if (padded < before) return before - padded - edge;      // i = padded - before < 0: -i or -i - 1
  const size_t i = padded - before;
  if (i < n) return i;
  return 2 * n - 2 + edge - i;                             // 2n - 2 - i, or 2n - 1 - i
}

void PadOperator::RunMirrored(const float* input, float* output, ThreadPool* pool) const {
  // Every output row reads an input row (each outer index mirrored into the
  // input); the row is its input row in the middle and, on each side,
  // elements of `block_` floats mirrored from it.
  const size_t last = padded_.size() - 1;
  const size_t in_row = input_[last] * block_, before = amounts_[last].first;
  ForEachOutputRow(output, pool, [&](const size_t* coords, float* out) {
    size_t in_offset = 0;
    for (size_t j = 0; j < last; ++j) in_offset = in_offset * input_[j] + MirrorIndex(j, coords[j]);
    const float* in = input + in_offset * in_row;
    std::memcpy(out + before * block_, in, in_row * sizeof(float));
    for (size_t k = 0; k < padded_[last]; ++k) {
      if (k == before) k += input_[last];
      if (k >= padded_[last]) break;
      std::memcpy(out + k * block_, in + MirrorIndex(last, k) * block_, block_ * sizeof(float));
    }
  });
}

std::unique_ptr<SliceOperator> SliceOperator::Create(const Shape& input, const std::vector<int>& begin,
                                                     const Shape& output, std::string* error) {
  if (input.empty() || input.size() > static_cast<size_t>(kMaxRank) || begin.size() != input.size() ||
      output.size() != input.size()) {
    *error = "slice: begin " + ShapeText(begin) + " and output " + ShapeText(output) + " for input " +
             ShapeText(input);
    return nullptr;
  }
  for (size_t i = 0; i < input.size(); ++i) {
    if (begin[i] < 0 || output[i] < 1 || begin[i] + output[i] > input[i]) {
      *error = "slice: " + std::to_string(output[i]) + " from " + std::to_string(begin[i]) + " of dim " +
               std::to_string(i) + " leaves the input " + ShapeText(input);
      return nullptr;
    }
  }
  std::unique_ptr<SliceOperator> op(new SliceOperator());
  // Trailing dims taken whole merge into the one before them: a channel
  // slice of NHWC copies runs of C_out floats, a row slice whole rows.
  size_t inner = 1, last = input.size();
  while (last > 1 && begin[last - 1] == 0 && output[last - 1] == input[last - 1]) {
    --last;
    inner *= static_cast<size_t>(input[last]);
  }
  for (size_t i = 0; i < last; ++i) {
    op->out_extent_.push_back(static_cast<size_t>(output[i]));
    op->in_extent_.push_back(static_cast<size_t>(input[i]));
    op->begin_.push_back(static_cast<size_t>(begin[i]));
  }
  op->out_extent_.back() *= inner;
  op->in_extent_.back() *= inner;
  op->begin_.back() *= inner;
  return op;
}

void SliceOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const size_t rank = out_extent_.size();
  const size_t run = out_extent_[rank - 1];
  const std::vector<size_t> outer(out_extent_.begin(), out_extent_.end() - 1);
  size_t rows = 1;
  for (size_t e : outer) rows *= e;
  // The box's first float, and each outer dim's stride in the input.
  size_t in_stride[kMaxRank], first_float = begin_[rank - 1];
  for (size_t j = rank - 1, stride = in_extent_[rank - 1]; j-- > 0; stride *= in_extent_[j]) {
    in_stride[j] = stride;
    first_float += begin_[j] * stride;
  }
  if (run < kShortRun && rank >= 2) {
    // Runs of a few floats (a coordinate of [..., 2] pairs): the rows of the
    // innermost outer dim in one loop, no call per run.
    const size_t rows_per_block = outer.back(), row_stride = in_stride[rank - 2];
    const std::vector<size_t> blocks_outer(outer.begin(), outer.end() - 1);
    const size_t block_floats = rows_per_block * run;
    ParallelRanges(pool, rows / rows_per_block, std::max<size_t>(1, kMinFloatsPerTask / block_floats),
                   [&](size_t first, size_t end) {
                     ForEachRow(blocks_outer, in_stride, first, end, [&](size_t block, size_t at) {
                       float* out = output + block * block_floats;
                       const float* in = input + first_float + at;
                       for (size_t r = 0; r < rows_per_block; ++r) {
                         for (size_t i = 0; i < run; ++i) out[r * run + i] = in[r * row_stride + i];
                       }
                     });
                   });
    return;
  }
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / run), [&](size_t first, size_t end) {
    ForEachRow(outer, in_stride, first, end, [&](size_t row, size_t at) {
      std::memcpy(output + row * run, input + first_float + at, run * sizeof(float));
    });
  });
}

std::unique_ptr<TransposeOperator> TransposeOperator::Create(const Shape& input, const std::vector<int>& perm,
                                                             std::string* error) {
  const size_t rank = input.size();
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank && rank <= static_cast<size_t>(kMaxRank);
  for (size_t i = 0; valid && i < perm.size(); ++i) {
    valid = perm[i] >= 0 && static_cast<size_t>(perm[i]) < rank && !seen[perm[i]];
    if (valid) seen[perm[i]] = true;
  }
  if (!valid) {
    *error = "transpose: " + ShapeText(perm) + " is not a permutation of " + ShapeText(input) + "'s dims";
    return nullptr;
  }
  const std::vector<size_t> in_stride = RowMajorStrides(input);
  std::unique_ptr<TransposeOperator> op(new TransposeOperator());
  for (size_t i = 0; i < rank; ++i) op->walk_.AppendDim(static_cast<size_t>(input[perm[i]]), in_stride[perm[i]]);
  // Output [..., X, Y] read from input [..., Y, X]: X has stride 1, Y stride X,
  // every outer dim the product of what follows it.
  const std::vector<size_t>& extent = op->walk_.extent;
  const std::vector<size_t>& stride = op->walk_.stride;
  const size_t rank2 = extent.size();
  if (rank2 >= 2 && stride[rank2 - 2] == 1 && stride[rank2 - 1] == extent[rank2 - 2]) {
    size_t expected = extent[rank2 - 2] * extent[rank2 - 1];
    bool outer_in_order = true;
    for (size_t j = rank2 - 2; j-- > 0;) {
      outer_in_order = outer_in_order && stride[j] == expected;
      expected *= extent[j];
    }
    op->blocked_2d_ = outer_in_order;
  }
  op->transpose_ = kernels::SelectElementwiseKernels().transpose;
  return op;
}

void TransposeOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  if (blocked_2d_) {
    const size_t rank = walk_.extent.size();
    const size_t x_size = walk_.extent[rank - 2], y_size = walk_.extent[rank - 1];
    const size_t matrices = walk_.total / (x_size * y_size);
    if (y_size <= 4) {
      // Few planes (an RGB image to NHWC): blocks of output pixels,
      // contiguous reads of every plane (the kernel interleaves three in
      // registers).
      constexpr size_t kBlock = 1024;
      const size_t x_blocks = (x_size + kBlock - 1) / kBlock;
      ParallelRanges(pool, matrices * x_blocks, std::max<size_t>(1, kMinFloatsPerTask / (kBlock * y_size)),
                     [&](size_t begin, size_t end) {
                       for (size_t task = begin; task < end; ++task) {
                         const size_t m = task / x_blocks, x0 = task % x_blocks * kBlock;
                         const size_t x1 = std::min(x0 + kBlock, x_size);
                         const float* in = input + m * x_size * y_size;
                         float* out = output + m * x_size * y_size;
                         transpose_(y_size, x1 - x0, in + x0, x_size, out + x0 * y_size, y_size);
                       }
                     });
      return;
    }
    // Tiles of kTile x kTile: both the reads (rows of the input) and the
    // writes (rows of the output) touch whole cache lines. Tiles over both
    // dims, so that a matrix of few rows (an NHWC feature map back to NCHW:
    // 32 x 12544) still splits across the threads (it was one task).
    constexpr size_t kTile = 32;
    const size_t x_tiles = (x_size + kTile - 1) / kTile, y_tiles = (y_size + kTile - 1) / kTile;
    ParallelRanges(pool, matrices * x_tiles * y_tiles, std::max<size_t>(1, kMinFloatsPerTask / (kTile * kTile)),
                   [&](size_t begin, size_t end) {
                     for (size_t task = begin; task < end; ++task) {
                       const size_t m = task / (x_tiles * y_tiles), tile = task % (x_tiles * y_tiles);
                       const size_t x0 = tile / y_tiles * kTile, y0 = tile % y_tiles * kTile;
                       const size_t x1 = std::min(x0 + kTile, x_size), y1 = std::min(y0 + kTile, y_size);
                       const float* in = input + m * x_size * y_size;
                       float* out = output + m * x_size * y_size;
                       transpose_(y1 - y0, x1 - x0, in + y0 * x_size + x0, x_size, out + x0 * y_size + y0, y_size);
                     }
                   });
    return;
  }
  walk_.Run(input, output, pool);
}

std::unique_ptr<StridedSliceOperator> StridedSliceOperator::Create(const Shape& input, const std::vector<int>& begin,
                                                                   const std::vector<int>& strides,
                                                                   const Shape& output, std::string* error) {
  const size_t rank = input.size();
  bool valid = rank >= 1 && rank <= static_cast<size_t>(kMaxRank) && begin.size() == rank &&
               strides.size() == rank && output.size() == rank;
  for (size_t d = 0; valid && d < rank; ++d) {
    // Every index read, begin .. begin + (output - 1) * stride, is inside the dim.
    const int64_t last = static_cast<int64_t>(begin[d]) + static_cast<int64_t>(output[d] - 1) * strides[d];
    valid = strides[d] != 0 && begin[d] >= 0 && begin[d] < input[d] && output[d] >= 1 && last >= 0 &&
            last < input[d];
  }
  if (!valid) {
    *error = "strided slice: begin " + ShapeText(begin) + " and strides " + ShapeText(strides) + " of " +
             ShapeText(output) + " elements leave the input " + ShapeText(input);
    return nullptr;
  }
  const std::vector<size_t> in_stride = RowMajorStrides(input);
  std::unique_ptr<StridedSliceOperator> op(new StridedSliceOperator());
  for (size_t d = 0; d < rank; ++d) {
    op->walk_.offset += static_cast<size_t>(begin[d]) * in_stride[d];
    // A negative stride wraps modulo 2^64 (StridedCopy).
    op->walk_.AppendDim(static_cast<size_t>(output[d]), in_stride[d] * static_cast<size_t>(int64_t{strides[d]}));
  }
  return op;
}

void StridedSliceOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  walk_.Run(input, output, pool);
}

std::unique_ptr<GatherOperator> GatherOperator::Create(size_t input_elements, const std::vector<size_t>& offsets,
                                                       size_t output_elements, std::string* error) {
  const size_t slice = offsets.empty() ? 0 : output_elements / offsets.size();
  bool valid = slice > 0 && slice * offsets.size() == output_elements;
  for (size_t i = 0; valid && i < offsets.size(); ++i) valid = offsets[i] + slice <= input_elements;
  if (!valid) {
    *error = "gather: " + std::to_string(offsets.size()) + " slices of " + std::to_string(output_elements) +
             " output floats leave the input's " + std::to_string(input_elements);
    return nullptr;
  }
  std::unique_ptr<GatherOperator> op(new GatherOperator());
  op->offsets_ = offsets;
  op->slice_ = slice;
  return op;
}

void GatherOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  ParallelRanges(pool, offsets_.size(), std::max<size_t>(1, kMinFloatsPerTask / slice_), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) std::memcpy(output + i * slice_, input + offsets_[i], slice_ * sizeof(float));
  });
}

std::unique_ptr<GatherNdOperator> GatherNdOperator::Create(const Shape& params, const Shape& indices,
                                                           const Shape& output, std::string* error,
                                                           const std::vector<int>& columns) {
  const int k = indices.empty() ? 0 : indices.back();
  Shape expected(indices.begin(), indices.end() - (indices.empty() ? 0 : 1));
  if (k >= 1 && k <= static_cast<int>(params.size())) expected.insert(expected.end(), params.begin() + k, params.end());
  int joined = 0;
  for (int c : columns) joined += c >= 1 ? c : k + 1;  // a count below 1 never adds up
  if (k < 1 || k > static_cast<int>(params.size()) || expected != output || (!columns.empty() && joined != k)) {
    *error = "gather_nd: indices " + ShapeText(indices) + " into params " + ShapeText(params) + " do not give " +
             ShapeText(output) + (columns.empty() ? "" : " (or their columns do not add up)");
    return nullptr;
  }
  std::unique_ptr<GatherNdOperator> op(new GatherNdOperator());
  const std::vector<size_t> strides = RowMajorStrides(params);
  const std::vector<int> widths = columns.empty() ? std::vector<int>{k} : columns;
  for (size_t t = 0; t < widths.size(); ++t) {
    for (int c = 0; c < widths[t]; ++c) {
      op->source_.push_back(t);
      op->column_.push_back(static_cast<size_t>(c));
      op->width_.push_back(static_cast<size_t>(widths[t]));
    }
  }
  for (int d = 0; d < k; ++d) {
    op->dims_.push_back(params[d]);
    op->strides_.push_back(strides[d]);
  }
  op->slice_ = k == static_cast<int>(params.size()) ? 1 : strides[k - 1];
  op->tuples_ = NumElements(indices) / static_cast<size_t>(k);
  op->params_ = params;
  return op;
}

bool GatherNdOperator::Run(const float* params, const float* const* indices, float* output, ThreadPool* pool,
                           std::string* error) const {
  const size_t k = dims_.size();
  // Index d of tuple i is columns[d][i * widths[d]].
  const int32_t* columns[kMaxRank];
  size_t widths[kMaxRank];
  for (size_t d = 0; d < k; ++d) {
    columns[d] = reinterpret_cast<const int32_t*>(indices[source_[d]]) + column_[d];
    widths[d] = width_[d];
  }
  // The first bad tuple found (SIZE_MAX: none); tasks only ever lower it.
  std::atomic<size_t> bad{std::numeric_limits<size_t>::max()};
  // K > 0: tuples of K indices, the loop over them unrolled (grid_sample's
  // are 4 long, one float each: 3.7 -> 3.0 ns a tuple; the rest is reading
  // the 16 bytes of each tuple from memory).
  auto gather = [&](auto known_k, size_t begin, size_t end) {
    constexpr size_t K = decltype(known_k)::value;
    const size_t tuple_size = K > 0 ? K : k;
    int32_t dims[kMaxRank];
    size_t strides[kMaxRank];
    for (size_t d = 0; d < k; ++d) {
      dims[d] = dims_[d];
      strides[d] = strides_[d];
    }
    for (size_t i = begin; i < end; ++i) {
      size_t offset = 0;
      bool inside = true;
      for (size_t d = 0; d < tuple_size; ++d) {
        const int32_t index = columns[d][i * widths[d]];
        // One unsigned comparison: a negative index wraps past every dim.
        inside &= static_cast<uint32_t>(index) < static_cast<uint32_t>(dims[d]);
        offset += static_cast<size_t>(static_cast<uint32_t>(index)) * strides[d];
      }
      if (!inside) {
        size_t seen = bad.load(std::memory_order_relaxed);
        while (i < seen && !bad.compare_exchange_weak(seen, i, std::memory_order_relaxed)) {
        }
        std::fill(output + i * slice_, output + (i + 1) * slice_, 0.0f);
        continue;
      }
      if (slice_ == 1) {
        output[i] = params[offset];
      } else {
        std::memcpy(output + i * slice_, params + offset, slice_ * sizeof(float));
      }
    }
  };
  ParallelRanges(pool, tuples_, std::max<size_t>(1, kMinFloatsPerTask / slice_), [&](size_t begin, size_t end) {
    switch (k) {
      case 1: gather(std::integral_constant<size_t, 1>(), begin, end); break;
      case 2: gather(std::integral_constant<size_t, 2>(), begin, end); break;
      case 3: gather(std::integral_constant<size_t, 3>(), begin, end); break;
      case 4: gather(std::integral_constant<size_t, 4>(), begin, end); break;
      default: gather(std::integral_constant<size_t, 0>(), begin, end); break;
    }
  });
  const size_t first_bad = bad.load();
  if (first_bad == std::numeric_limits<size_t>::max()) return true;
  std::string tuple;
  for (size_t d = 0; d < k; ++d) tuple += (d ? ", " : "") + std::to_string(columns[d][first_bad * widths[d]]);
  *error = "gather_nd: index tuple " + std::to_string(first_bad) + " (" + tuple + ") is outside params " +
           ShapeText(params_);
  return false;
}

std::unique_ptr<BroadcastOperator> BroadcastOperator::Create(const Shape& input, const Shape& output,
                                                             std::string* error) {
  // The input's dims line up with the output's last ones; each is the
  // output's or 1 (repeated along that dim).
  const size_t rank = output.size();
  if (output.empty() || rank > static_cast<size_t>(kMaxRank) || !BroadcastsTo(input, output)) {
    *error = "broadcast_to: input " + ShapeText(input) + " does not broadcast to " + ShapeText(output);
    return nullptr;
  }
  const size_t lead = rank - input.size();
  const std::vector<size_t> in_stride = RowMajorStrides(input);
  std::unique_ptr<BroadcastOperator> op(new BroadcastOperator());
  for (size_t i = 0; i < rank; ++i) {
    const bool repeated = i < lead || input[i - lead] == 1;
    op->walk_.AppendDim(static_cast<size_t>(output[i]), repeated ? 0 : in_stride[i - lead]);
  }
  return op;
}

void BroadcastOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  walk_.Run(input, output, pool);
}

std::unique_ptr<ConcatOperator> ConcatOperator::Create(const std::vector<Shape>& inputs, int axis, float lo,
                                                       float hi, std::string* error,
                                                       const std::vector<std::pair<int, int>>& ranges) {
  if (inputs.empty() || (!ranges.empty() && ranges.size() != inputs.size())) {
    *error = "concatenation: no inputs, or not a range per input";
    return nullptr;
  }
  const int rank = static_cast<int>(inputs[0].size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank || rank > kMaxRank) {
    *error = "concatenation: axis out of range for " + ShapeText(inputs[0]);
    return nullptr;
  }
  std::unique_ptr<ConcatOperator> op(new ConcatOperator());
  op->output_ = inputs[0];
  op->output_[axis] = 0;
  for (size_t n = 0; n < inputs.size(); ++n) {
    const Shape& s = inputs[n];
    for (int i = 0; i < rank; ++i) {
      if (static_cast<int>(s.size()) != rank || (i != axis && s[i] != inputs[0][i])) {
        *error = "concatenation: " + ShapeText(s) + " does not match " + ShapeText(inputs[0]) +
                 " outside axis " + std::to_string(axis);
        return nullptr;
      }
    }
    const std::pair<int, int> range = ranges.empty() ? std::make_pair(0, s[axis]) : ranges[n];
    if (range.first < 0 || range.second < 1 || range.first + range.second > s[axis]) {
      *error = "concatenation: " + std::to_string(range.second) + " from " + std::to_string(range.first) +
               " leaves input " + ShapeText(s);
      return nullptr;
    }
    const size_t after = NumElements(Shape(s.begin() + axis + 1, s.end()));
    op->output_[axis] += range.second;
    op->inner_.push_back(static_cast<size_t>(range.second) * after);
    op->stride_.push_back(static_cast<size_t>(s[axis]) * after);
    op->offset_.push_back(static_cast<size_t>(range.first) * after);
  }
  op->whole_inputs_ = op->inner_ == op->stride_;
  op->outer_ = NumElements(Shape(inputs[0].begin(), inputs[0].begin() + axis));
  op->out_inner_ = NumElements(Shape(op->output_.begin() + axis, op->output_.end()));
  op->clamp_ = lo > -3.402823466e+38f || hi < 3.402823466e+38f;
  op->clamp_params_.lo = lo;
  op->clamp_params_.hi = hi;
  op->clamp_fn_ = kernels::SelectElementwiseKernels().Unary(kernels::UnaryOp::kClamp);
  op->single_floats_ =
      !op->clamp_ && std::all_of(op->inner_.begin(), op->inner_.end(), [](size_t n) { return n == 1; });
  return op;
}

void ConcatOperator::Run(const float* const* inputs, float* output, ThreadPool* pool) const {
  if (single_floats_) {
    // One float of each input per outer index (grid_sample's index columns
    // joined into tuples): input by input, a strided store per float, where
    // a memcpy call per float cost 2.2 ns each.
    const size_t n = inner_.size();
    ParallelRanges(pool, outer_, std::max<size_t>(1, kMinFloatsPerTask / n), [&](size_t begin, size_t end) {
      for (size_t i = 0; i < n; ++i) {
        const float* in = inputs[i] + offset_[i];
        const size_t stride = stride_[i];
        float* out = output + i;
        for (size_t o = begin; o < end; ++o) out[o * n] = in[o * stride];
      }
    });
    return;
  }
  // Whole inputs (no SLICE fused in) step by their own size: the loop for a
  // pixel of a few channels is mostly its bookkeeping (two more loads per
  // input cost a 4-input concat of NHWC pixels 15%).
  auto copy = [&](auto whole) {
    ParallelRanges(pool, outer_, std::max<size_t>(1, kMinFloatsPerTask / out_inner_), [&](size_t begin, size_t end) {
      for (size_t o = begin; o < end; ++o) {
        float* out = output + o * out_inner_;
        for (size_t i = 0; i < inner_.size(); ++i) {
          const float* in = decltype(whole)::value ? inputs[i] + o * inner_[i] : inputs[i] + o * stride_[i] + offset_[i];
          if (clamp_) {
            clamp_fn_(inner_[i], in, out, clamp_params_);
          } else {
            std::memcpy(out, in, inner_[i] * sizeof(float));
          }
          out += inner_[i];
        }
      }
    });
  };
  if (whole_inputs_) {
    copy(std::true_type());
  } else {
    copy(std::false_type());
  }
}

int NearestSourceIndex(int output_index, int input_size, int output_size, bool align_corners,
                       bool half_pixel_centers) {
  const float scale = (align_corners && output_size > 1)
                          ? static_cast<float>(input_size - 1) / static_cast<float>(output_size - 1)
                          : static_cast<float>(input_size) / static_cast<float>(output_size);
  const float offset = half_pixel_centers ? 0.5f : 0.0f;
  const float position = (static_cast<float>(output_index) + offset) * scale;
  int index = align_corners ? static_cast<int>(std::round(position)) : static_cast<int>(std::floor(position));
  index = std::min(index, input_size - 1);
  if (half_pixel_centers) index = std::max(index, 0);
  return index;
}

namespace {

// Both resizes take a non-empty NHWC image to a non-empty size.
bool ResizeShapesValid(const char* what, const Shape& input, int output_height, int output_width,
                       std::string* error) {
  if (input.size() == 4 && output_height >= 1 && output_width >= 1 && NumElements(input) != 0) return true;
  *error = std::string(what) + ": input " + ShapeText(input) + " is not a non-empty NHWC image, or the output is empty";
  return false;
}

}  // namespace

std::unique_ptr<ResizeNearestOperator> ResizeNearestOperator::Create(const Shape& input, int output_height,
                                                                     int output_width, bool align_corners,
                                                                     bool half_pixel_centers, std::string* error) {
  if (!ResizeShapesValid("resize nearest", input, output_height, output_width, error)) return nullptr;
  std::unique_ptr<ResizeNearestOperator> op(new ResizeNearestOperator());
  op->batch_ = input[0];
  op->input_height_ = input[1];
  op->input_width_ = input[2];
  op->channels_ = input[3];
  for (int y = 0; y < output_height; ++y) {
    op->source_y_.push_back(NearestSourceIndex(y, input[1], output_height, align_corners, half_pixel_centers));
  }
  for (int x = 0; x < output_width; ++x) {
    op->source_x_.push_back(NearestSourceIndex(x, input[2], output_width, align_corners, half_pixel_centers));
  }
  return op;
}

void ResizeNearestOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const size_t c = static_cast<size_t>(channels_);
  const size_t out_h = source_y_.size(), out_w = source_x_.size();
  const size_t rows = static_cast<size_t>(batch_) * out_h;
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / (out_w * c)), [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      const size_t n = row / out_h, y = static_cast<size_t>(source_y_[row % out_h]);
      const float* in_row = input + (n * input_height_ + y) * input_width_ * c;
      float* out = output + row * out_w * c;
      for (size_t x = 0; x < out_w; ++x, out += c) {
        std::memcpy(out, in_row + static_cast<size_t>(source_x_[x]) * c, c * sizeof(float));
      }
    }
  });
}

std::unique_ptr<ResizeBilinearOperator> ResizeBilinearOperator::Create(const Shape& input, int output_height,
                                                                       int output_width, bool align_corners,
                                                                       bool half_pixel_centers, std::string* error) {
  if (!ResizeShapesValid("resize bilinear", input, output_height, output_width, error)) return nullptr;
  std::unique_ptr<ResizeBilinearOperator> op(new ResizeBilinearOperator());
  op->batch_ = input[0];
  op->input_height_ = input[1];
  op->input_width_ = input[2];
  op->channels_ = input[3];
  // The builtin's ComputeInterpolationValues, in float as it computes them.
  auto sources = [&](int in_size, int out_size, std::vector<Source>* out) {
    float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
    if (align_corners && out_size > 1) scale = static_cast<float>(in_size - 1) / static_cast<float>(out_size - 1);
    for (int i = 0; i < out_size; ++i) {
      const float value =
          half_pixel_centers ? (static_cast<float>(i) + 0.5f) * scale - 0.5f : static_cast<float>(i) * scale;
      Source s;
      s.lower = std::max(static_cast<int>(std::floor(value)), 0);
      s.upper = std::min(static_cast<int>(std::ceil(value)), in_size - 1);
      s.fraction = value - static_cast<float>(s.lower);
      out->push_back(s);
    }
  };
  sources(input[1], output_height, &op->source_y_);
  sources(input[2], output_width, &op->source_x_);
  op->row_ = kernels::SelectElementwiseKernels().bilinear_row;
  return op;
}

void ResizeBilinearOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  const size_t c = static_cast<size_t>(channels_);
  const size_t out_h = source_y_.size(), out_w = source_x_.size();
  const size_t rows = static_cast<size_t>(batch_) * out_h;
  const size_t in_row = static_cast<size_t>(input_width_) * c;
  ParallelRanges(pool, rows, std::max<size_t>(1, kMinFloatsPerTask / (out_w * c)), [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end; ++row) {
      const size_t n = row / out_h;
      const Source& sy = source_y_[row % out_h];
      const float* top = input + (n * input_height_ + static_cast<size_t>(sy.lower)) * in_row;
      const float* bottom = input + (n * input_height_ + static_cast<size_t>(sy.upper)) * in_row;
      row_(out_w, c, top, bottom, source_x_.data(), sy.fraction, output + row * out_w * c);
    }
  });
}

void CopyOperator::Run(const float* input, float* output, ThreadPool* pool) const {
  if (input == output) return;
  ParallelRanges(pool, elements_, kMinFloatsPerTask * 4, [&](size_t begin, size_t end) {
    std::memcpy(output + begin, input + begin, (end - begin) * sizeof(float));
  });
}

}  // namespace actsparse
