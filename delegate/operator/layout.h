// Operators that move data (float32, any rank up to kMaxRank unless noted):
// PAD / PADV2 with a constant, MIRROR_PAD, SLICE, STRIDED_SLICE, GATHER_ND, TRANSPOSE, BROADCAST_TO,
// CONCATENATION (with a fused clamp), RESIZE_NEAREST_NEIGHBOR and
// RESIZE_BILINEAR (NHWC; the one that computes: it interpolates) and a plain
// copy (RESHAPE when it cannot alias). Knows nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_LAYOUT_H_
#define ACTSPARSE_DELEGATE_OPERATOR_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

// What PAD writes outside the input: a constant (PAD / PADV2), or the input
// mirrored at its edge (MIRROR_PAD): kReflect leaves the edge out (2 1 | 0 1 2),
// kSymmetric repeats it (1 0 | 0 1 2).
enum class PadMode { kConstant, kReflect, kSymmetric };

// The most a mirrored dim of `size` elements can be padded on one side: a
// mirror reads only the input (REFLECT size - 1, SYMMETRIC size).
inline int MaxMirrorPadding(PadMode mode, int size) { return mode == PadMode::kReflect ? size - 1 : size; }

class PadOperator {
 public:
  // `amounts[i]` = (before, after) for dim i, both >= 0; mirrored, at most
  // the dim's size (kSymmetric) or one less (kReflect).
  static std::unique_ptr<PadOperator> Create(const Shape& input, const std::vector<std::pair<int, int>>& amounts,
                                             float value, std::string* error, PadMode mode = PadMode::kConstant);
  void Run(const float* input, float* output, ThreadPool* pool) const;
  const Shape& output_shape() const { return output_; }

 private:
  PadOperator() = default;
  Shape output_;
  // As Run walks them: trailing dims that are not padded merged into the
  // one before (NHWC padded in H and W: rows of W * C floats, not of C;
  // with C = 3 a row per pixel cost 2 us per thousand pixels).
  std::vector<size_t> input_, padded_;
  std::vector<std::pair<size_t, size_t>> amounts_;
  float value_ = 0.0f;
  PadMode mode_ = PadMode::kConstant;
  size_t block_ = 1;  // floats per element of the last padded dim (the merged dims' size)

  // fn(coords of the row's outer dims, the row) for each output row of the
  // last padded dim, split over the pool.
  template <class RowFn>
  void ForEachOutputRow(float* output, ThreadPool* pool, RowFn&& fn) const;
  void RunConstant(const float* input, float* output, ThreadPool* pool) const;
  void RunMirrored(const float* input, float* output, ThreadPool* pool) const;
  // The input index that padded index `padded` of dim `dim` reads.
  size_t MirrorIndex(size_t dim, size_t padded) const;
};

// A copy that walks the input at strides of its own: TRANSPOSE's general
// case, STRIDED_SLICE (REVERSE_V2 among them) and BROADCAST_TO. Output dims
// outermost first, each stepping `stride` input floats (0: repeated; a
// negative step wrapped modulo 2^64, as all offset arithmetic here is
// unsigned, so sums of steps land on the true index) from `offset`; AppendDim
// merges a dim into the one before where that one steps over exactly it
// (the input contiguous across both, or both repeated), and drops dims of 1.
struct StridedCopy {
  size_t offset = 0;
  std::vector<size_t> extent, stride;
  size_t total = 1;  // output floats

  void AppendDim(size_t dim_extent, size_t dim_stride);
  // Rows of the innermost dim, split over the pool.
  void Run(const float* input, float* output, ThreadPool* pool) const;
};

// SLICE: the box of the input starting at `begin` with the output's shape.
class SliceOperator {
 public:
  static std::unique_ptr<SliceOperator> Create(const Shape& input, const std::vector<int>& begin,
                                               const Shape& output, std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  SliceOperator() = default;
  // After merging trailing dims the slice keeps whole: output extents, the
  // input's extents and the begin offsets; the last dim is one contiguous run.
  std::vector<size_t> out_extent_, in_extent_, begin_;
};

// STRIDED_SLICE: output index i of dim d reads input index begin[d] + i *
// strides[d], strides non-zero (YOLOv5's Focus: x[..., ::2, ::2]; a
// negative stride walks backwards: REVERSE_V2, torch.flip, is strides of
// -1 from the dim's last index).
class StridedSliceOperator {
 public:
  static std::unique_ptr<StridedSliceOperator> Create(const Shape& input, const std::vector<int>& begin,
                                                      const std::vector<int>& strides, const Shape& output,
                                                      std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  StridedSliceOperator() = default;
  StridedCopy walk_;  // from the box's first element, each dim's input stride times its stride
};

// GATHER_ND with indices known at plan time: output slice i (each of the
// output's floats / offsets' count) is the input's floats from offsets[i].
class GatherOperator {
 public:
  static std::unique_ptr<GatherOperator> Create(size_t input_elements, const std::vector<size_t>& offsets,
                                                size_t output_elements, std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  GatherOperator() = default;
  std::vector<size_t> offsets_;
  size_t slice_ = 0;
};

// GATHER_ND with indices read at run time: `indices` [..., k] int32 (bits
// in a float buffer), each tuple of k picking the slice of `params` past
// its first k dims. An index outside its dim fails the run, as the
// builtin kernel fails it. The tuples may come as columns of several
// tensors joined along the last dim (the CONCATENATION that made them
// fused in: grid_sample's [batch, channel, y, x]): `columns`, per index
// tensor, how many of the k it holds, in order.
class GatherNdOperator {
 public:
  static std::unique_ptr<GatherNdOperator> Create(const Shape& params, const Shape& indices, const Shape& output,
                                                  std::string* error, const std::vector<int>& columns = {});
  // `indices`: one pointer per index tensor. False (`error` naming the
  // first bad index found) when an index is out of range.
  bool Run(const float* params, const float* const* indices, float* output, ThreadPool* pool,
           std::string* error) const;

 private:
  GatherNdOperator() = default;
  std::vector<int32_t> dims_;     // params' first k dims
  std::vector<size_t> strides_;   // their strides in floats
  // Per index d: the tensor holding it, its column there, that tensor's columns.
  std::vector<size_t> source_, column_, width_;
  size_t tuples_ = 0, slice_ = 0;
  Shape params_;
};

class TransposeOperator {
 public:
  // output dim i = input dim perm[i].
  static std::unique_ptr<TransposeOperator> Create(const Shape& input, const std::vector<int>& perm,
                                                   std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  TransposeOperator() = default;
  // Output dims with the input stride of each, input dims that stay
  // neighbours merged; the last is the innermost loop.
  StridedCopy walk_;
  // The last two output dims swap the input's last two (NCHW <-> NHWC, with
  // the outer dims in order): blocked 2-D transposes, one per outer index.
  bool blocked_2d_ = false;
  kernels::TransposeFn transpose_ = nullptr;  // the blocks' kernel
};

// BROADCAST_TO: the input repeated along the output's extra leading dims
// and along its dims of 1 (numpy's rule, one direction: the input's dims
// line up with the output's last ones).
class BroadcastOperator {
 public:
  static std::unique_ptr<BroadcastOperator> Create(const Shape& input, const Shape& output, std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  BroadcastOperator() = default;
  StridedCopy walk_;  // a repeated dim steps 0 floats
};

class ConcatOperator {
 public:
  // `ranges` (empty: every input whole): per input, the (first, count) of
  // its indices along `axis` it contributes (a SLICE of the concatenation
  // fused in: GhostNet's concat of a conv and its cheap depthwise op, cut to
  // an odd channel count).
  static std::unique_ptr<ConcatOperator> Create(const std::vector<Shape>& inputs, int axis, float lo, float hi,
                                                std::string* error,
                                                const std::vector<std::pair<int, int>>& ranges = {});
  void Run(const float* const* inputs, float* output, ThreadPool* pool) const;
  const Shape& output_shape() const { return output_; }

 private:
  ConcatOperator() = default;
  Shape output_;
  size_t outer_ = 1;
  std::vector<size_t> inner_;  // floats each input contributes per outer index
  std::vector<size_t> stride_, offset_;  // each input's floats per outer index, and where its part starts
  bool whole_inputs_ = true;             // every input whole: stride_ == inner_, offsets 0
  bool single_floats_ = false;           // one float of each input per outer index, no clamp
  size_t out_inner_ = 0;
  bool clamp_ = false;
  kernels::UnaryParams clamp_params_;
  kernels::UnaryFn clamp_fn_ = nullptr;
};

// NHWC nearest-neighbour resize with the builtin kernel's index rule.
class ResizeNearestOperator {
 public:
  static std::unique_ptr<ResizeNearestOperator> Create(const Shape& input, int output_height, int output_width,
                                                       bool align_corners, bool half_pixel_centers,
                                                       std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  ResizeNearestOperator() = default;
  int batch_ = 1, input_height_ = 0, input_width_ = 0, channels_ = 0;
  std::vector<int> source_y_, source_x_;
};

// NHWC bilinear resize with the builtin reference kernel's index rule and
// expression: out = in00 * (1 - fy) * (1 - fx) + in10 * fy * (1 - fx) +
// in01 * (1 - fy) * fx + in11 * fy * fx, in that order; an output row per
// call of the elementwise kernels' bilinear_row (the channels in vectors:
// a scalar loop ran FPN's 32-channel upsamplings at 1.3 ns a float).
class ResizeBilinearOperator {
 public:
  static std::unique_ptr<ResizeBilinearOperator> Create(const Shape& input, int output_height, int output_width,
                                                        bool align_corners, bool half_pixel_centers,
                                                        std::string* error);
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  ResizeBilinearOperator() = default;
  // Along one axis, output index -> the two input indices and the weight
  // of the second (the builtin's input - lower, which may be negative at
  // the first index with half-pixel centers).
  using Source = kernels::BilinearTap;
  int batch_ = 1, input_height_ = 0, input_width_ = 0, channels_ = 0;
  std::vector<Source> source_y_, source_x_;
  kernels::BilinearRowFn row_ = nullptr;  // an output row's pixels (the channels in vectors)
};

class CopyOperator {
 public:
  explicit CopyOperator(size_t elements) : elements_(elements) {}
  void Run(const float* input, float* output, ThreadPool* pool) const;

 private:
  size_t elements_;
};

// The builtin RESIZE_NEAREST_NEIGHBOR's source index along one axis.
int NearestSourceIndex(int output_index, int input_size, int output_size, bool align_corners,
                       bool half_pixel_centers);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_LAYOUT_H_
