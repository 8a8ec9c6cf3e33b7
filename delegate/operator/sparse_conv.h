// The sparse convolution operator: one masked conv chain, NHWC float32.
//
// Create() packs the weights once. Run() computes only the active (mask = 1)
// output pixels, reading each one's receptive field through an indirection
// buffer of per-pixel, per-tap input pointers (padding taps point at a zero
// row): no im2col matrix, no GEMM row for masked pixels, whose outputs are
// written directly as act(add_bias). A dense conv is the all-ones mask.
// Grouped convs (groups > 1, not depthwise) run each group's channels as a
// conv of their own over a slice of the input channels. An OutputStage fuses
// what consumed the output (a residual ADD, an activation) into the pass that
// writes it. Knows nothing of TFLite.
#ifndef ACTSPARSE_DELEGATE_OPERATOR_SPARSE_CONV_H_
#define ACTSPARSE_DELEGATE_OPERATOR_SPARSE_CONV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/operator/elementwise.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {

struct SparseConvParams {
  int batch = 1;
  int input_height = 0, input_width = 0, input_channels = 0;
  int output_height = 0, output_width = 0, output_channels = 0;
  int kernel_height = 1, kernel_width = 1;
  int stride_height = 1, stride_width = 1;
  int dilation_height = 1, dilation_width = 1;
  // Zero padding before the first row/column (absorbed PAD + SAME padding).
  int padding_top = 0, padding_left = 0;
  bool depthwise = false;
  int depth_multiplier = 1;  // depthwise only
  int groups = 1;            // regular conv: input and output channels split into this many groups
  float output_min = -3.402823466e+38f;  // fused activation as a clamp
  float output_max = 3.402823466e+38f;
};

// How a regular conv's work is blocked for the caches (see sparse_conv.cc
// for the measured defaults). Exposed for the benchmark tool and tests;
// every blocking computes the same sums in the same order.
struct ConvBlocking {
  size_t rows_per_task = 96;  // active pixels per task (a chunk)
  // Convs whose reduction (taps x input channels) is at most this use the
  // igemm kernel: rows outer, every tile of a pass inside one call, no
  // partial sums; larger ones the tap-blocked kernel (ConvRows). 0: the
  // igemm kernel's own limits (IgemmKernel::max_reduction, max_multi_tap_reduction).
  size_t igemm_max_reduction = 0;
  size_t tile_pass_bytes = 320 * 1024;  // igemm: packed weights per pass over the rows (0: all tiles)
  // igemm with a reduction above igemm_blocked_from: blocks of about this
  // many reduction values, the partial sums left in the output rows between
  // them (0: always the whole reduction in one pass).
  size_t igemm_reduction_block = 512;
  size_t igemm_blocked_from = 3072;
  size_t reduction_block = 1024;        // ConvRows: reduction values per pass (0: the whole K)
  size_t rows_per_call = 0;             // ConvRows: rows per call (0: the whole chunk, tiles outer)
  // A depthwise conv the image-rows kernel takes (see depthwise_image_rows_):
  // kAuto runs it so where that is expected to be faster than the active
  // pixels through pointers (every unmasked one; masked ones by their
  // density and channels), kAlways / kNever force the choice. Both compute
  // the same sums; masked pixels get the masked value either way.
  enum class Choice { kAuto, kAlways, kNever };
  using ImageRows = Choice;
  ImageRows depthwise_image_rows = ImageRows::kAuto;
  // A masked regular conv may compute every pixel as a dense one would
  // (a 1x1 conv then reads its rows by arithmetic), then overwrite the
  // masked ones: kAuto does so where that is expected to be faster (few
  // multiply-adds per pixel, see ComputeAllPays in sparse_conv.cc). Both
  // compute the same sums; masked pixels get the masked value either way.
  Choice masked_computes_all = Choice::kAuto;
  // A fused hard-swish or SiLU (no residual) applied by the igemm or
  // depthwise kernel as it stores (KernelStoreOp), else by a pass over the
  // written rows. The same operations either way.
  bool stage_in_kernel = true;
};

// Where pixel (n, y, x) of an NHWC tensor lives, in floats from its base:
// n * image_stride + (y % ring_rows) * row_stride + x * channels. The default
// is the dense tensor; a ring of a few rows lets a band of rows flow through
// consecutive convs without the whole tensor ever existing (see
// graph/plan.cc, inverted residual blocks).
struct PixelLayout {
  size_t row_stride = 0;    // floats from one row to the next
  size_t ring_rows = 0;     // rows held; row y is stored at y % ring_rows
  size_t image_stride = 0;  // floats from one image of the batch to the next

  static PixelLayout Dense(int height, int width, int channels) {
    const size_t row = static_cast<size_t>(width) * channels;
    return {row, static_cast<size_t>(height), row * height};
  }
  size_t Offset(int y, int x, size_t channels) const {
    return (static_cast<size_t>(y) % ring_rows) * row_stride + static_cast<size_t>(x) * channels;
  }
};

class SparseConvOperator {
 public:
  // weights: OHWI for a conv (I = C_in / groups), [1, KH, KW, C*M] for a
  // depthwise conv. conv_bias / add_bias: output_channels floats, or null for
  // zeros. mask: output_height * output_width bytes, row-major, nonzero =
  // compute; null = dense. stage: applied to every output row once written.
  static std::unique_ptr<SparseConvOperator> Create(const SparseConvParams& params,
                                                    const float* weights, const float* conv_bias,
                                                    const float* add_bias, const uint8_t* mask,
                                                    std::string* error,
                                                    const OutputStage& stage = OutputStage());

  // input: batch * H_in * W_in * C_in floats; output: batch * H_out * W_out * C_out
  // (or as their layouts say); residual: the stage's residual operand, a
  // dense tensor shaped as the output (null if none).
  void Run(const float* input, float* output, ThreadPool* pool, const float* residual = nullptr) {
    RunRows(input, output, pool, residual, 0, params_.output_height);
  }
  // Whether SetInputScale applies: a regular 1x1 conv of one group.
  bool TakesInputScale() const {
    return !params_.depthwise && params_.groups == 1 && kernel_taps_ == 1 && !merge_rows_;
  }
  // The runs that follow compute conv(x * scale), scale[k] a factor of input
  // channel k: the packed weights of input channel k times scale[k] (a
  // squeeze-excitation's scale, set before each run, folded into the 1x1
  // conv after it: no pass over its input). Splits the tiles over `pool`.
  void SetInputScale(const float* scale, ThreadPool* pool);
  // Computes output rows [first_row, end_row) of every image only.
  void RunRows(const float* input, float* output, ThreadPool* pool, const float* residual, int first_row,
               int end_row);
  // Reads the input / writes the output through these layouts (default: dense).
  void SetLayouts(const PixelLayout& input, const PixelLayout& output);

  // Masked outputs that are never written (graph/plan.cc decides where):
  // with a mask and no residual stage every masked pixel holds one value,
  // masked_output_value() (output_channels floats, after the stage).
  bool has_uniform_masked_value() const { return !masked_pixels_.empty() && !stage_.residual; }
  const float* masked_output_value() const { return masked_output_.data(); }
  // The output mask: output_height * output_width bytes, 1 = computed.
  std::vector<uint8_t> OutputMask() const;
  // Leaves masked pixels unwritten: every reader must take them from
  // masked_output_value() (ReadMaskedInput). Only with has_uniform_masked_value().
  void SkipMaskedOutputs();
  // Reads input pixels whose byte in `producer_mask` (input_height *
  // input_width, row-major) is 0 at `value` (input_channels floats, kept
  // alive by the caller) instead of the input. False, and nothing changed,
  // when this conv reads kernel rows whole (few input channels).
  // Not taken (false) by a conv that reads its input rows whole or by
  // arithmetic: the depthwise image-rows kernel, and a dense 1x1 conv that
  // reads pixels directly (so it keeps doing so; MobileNetV3-Large with only
  // its depthwise convs masked: +1.3 / +1.9% with two builds swapped,
  // -0.5 / +3.4% switched in one build, MobileNetV2 within 0.6%); their
  // producer writes every pixel.
  bool ReadMaskedInput(const std::vector<uint8_t>& producer_mask, const float* value);
  bool can_read_masked_input() const { return !merge_rows_ && !runs_by_image_rows() && !ReadsPixelsDirectly(); }
  // Whether Run takes the depthwise image-rows kernel (see depthwise_image_rows_).
  bool runs_by_image_rows() const {
    return depthwise_image_rows_ != nullptr && by_image_rows_ && masked_input_mask_.empty();
  }

  const SparseConvParams& params() const { return params_; }
  const ConvBlocking& blocking() const { return blocking_; }
  void set_blocking(const ConvBlocking& blocking);
  // The threads of the pool its plan runs it on, where the plan knows (0:
  // not known). Some choices depend on it: see ChooseImageRows.
  void set_planned_threads(int threads) {
    planned_threads_ = threads;
    ChooseImageRows();
  }
  // Whether Run computes the masked pixels too (see masked_computes_all).
  bool computes_all() const { return computes_all_; }
  // A 1x1 conv of stride 1 with no mask between tensors whose rows lie end
  // to end (dense, or rings of rows as in a banded step): pixel i reads
  // input pixel i and writes output pixel i, so the igemm calls take their
  // pointers from arithmetic, not from the indirection buffer and the output
  // offsets (per task two arrays that were often out of cache; XNNPACK runs
  // such convs as a GEMM for the same reason).
  bool ReadsPixelsDirectly() const;
  // What the kernel applies to the outputs as it stores them (kernels::
  // StoreOp: the igemm and depthwise kernels can apply a fused stage that is
  // a lone hard-swish or SiLU, no residual, no activation after it), so no
  // pass over the written rows follows; kNone: the stage (if any) is a pass.
  kernels::StoreOp KernelStoreOp() const {
    if (!blocking_.stage_in_kernel || !(params_.depthwise || uses_igemm()) || !stage_.unary || stage_.residual ||
        stage_.unary_params.lo != kernels::UnaryParams().lo || stage_.unary_params.hi != kernels::UnaryParams().hi) {
      return kernels::StoreOp::kNone;
    }
    switch (stage_.unary_op) {
      case kernels::UnaryOp::kHardSwish:
        return kernels::StoreOp::kHardSwish;
      case kernels::UnaryOp::kSilu:
        return kernels::StoreOp::kSilu;
      default:
        return kernels::StoreOp::kNone;
    }
  }
  bool StageInKernel() const { return KernelStoreOp() != kernels::StoreOp::kNone; }
  // Whether Run uses the igemm kernel (a regular conv with a short enough reduction).
  bool uses_igemm() const {
    const size_t own = kernel_taps_ > 1 ? igemm_.max_multi_tap_reduction : igemm_.max_reduction;
    const size_t limit = blocking_.igemm_max_reduction ? blocking_.igemm_max_reduction : own;
    return !params_.depthwise && kernel_taps_ * kernel_channels_ <= limit;
  }

 private:
  // How Run() splits the work into tasks: active pixels in row_tasks
  // balanced chunks, output channel tiles in channel_tasks balanced chunks
  // (regular conv with several threads and few pixels), the reduction in
  // blocks of taps_per_block taps (regular conv). With several threads a row
  // task also fills the masked pixels of its region of the image; else they
  // have tasks of their own (masked_tasks). With several threads, row_tasks *
  // channel_tasks is a multiple of the thread count, so equal tasks leave
  // no thread a tail to wait for.
  struct WorkPlan {
    int num_threads = 0;  // the plan is for this many threads (0: none made yet)
    size_t row_tasks = 0, channel_tasks = 0;
    bool guided = false;  // row chunks shrink toward the back of each thread's range (RunRows)
    size_t taps_per_block = 0;      // ConvRows (igemm: igemm_blocks_)
    size_t channels_per_block = 0;  // < channels only with one tap per block
    size_t tiles_per_pass = 0;      // channel tiles whose weights one pass over the rows streams
    size_t masked_tasks = 0;
  };

  // A run of consecutive output channel tiles of one group that one pass
  // over a task's rows computes: tiles [tile0, tile_end) of `group`,
  // channels [c0, c0 + width); unit = group * group_tiles_ + tile0.
  struct TilePass {
    size_t unit = 0, group = 0, tile0 = 0, tile_end = 0, c0 = 0, width = 0;
  };

  // How the reduction (taps x input channels of each output) runs in
  // blocks, one kernel call per block, tap blocks outer, their partial sums
  // left in the output rows between calls: blocks of taps_per_block taps,
  // or of channels_per_block channels of one tap. igemm_blocked: the igemm
  // kernel runs a reduction this long in blocks (else whole).
  struct ReductionShape {
    size_t taps_per_block = 0, channels_per_block = 0;
    bool igemm_blocked = false;
  };
  // One block of the igemm's reduction: taps [tap, tap + taps) x input
  // channels [channel, channel + channels), its tiles (one per 16 output
  // channels, kernels::IgemmTileFloats(taps, channels) floats each, led by
  // the bias) at `offset` floats into a group's igemm weights.
  struct ReductionBlock {
    size_t tap = 0, taps = 0, channel = 0, channels = 0, offset = 0;
    size_t tile_stride() const { return kernels::IgemmTileFloats(taps, channels); }
  };

  SparseConvOperator() = default;
  ReductionShape ReductionBlockShape() const;
  // Lays igemm_weights_ out in the blocks of ReductionBlockShape (from
  // packed_weights_ and the biases) unless they are laid out so already.
  void LayOutIgemmWeights();
  // Where tile `tile` of `group` starts for `block`, in floats into igemm_weights_.
  size_t IgemmTileOffset(size_t group, const ReductionBlock& block, size_t tile) const {
    return group * group_igemm_weights_ + block.offset + tile * block.tile_stride();
  }
  void PlanIndirection(const float* input);
  // The patches of output rows [first_row, end_row) of every image.
  void FillRowPatches(const float* input, int first_row, int end_row);
  // Sets by_image_rows_ from blocking_.depthwise_image_rows (kAuto: the cost
  // model in sparse_conv.cc, and for a dense conv the planned threads).
  void ChooseImageRows();
  // Sets computes_all_ from blocking_.masked_computes_all and lists the
  // pixels Run computes (active_pixels_) accordingly.
  void ChooseComputeAll();
  // The fused stage on `count` output rows of image n at `rows` (channels
  // [c0, c0 + width)), whose pixels are `pixels`; residual: the stage's operand.
  void FinishRows(const float* residual, size_t n, size_t count, float* const* rows, const uint32_t* pixels,
                  size_t c0, size_t width) const;
  // Masked pixels [first, end) of the masked list, of image n (output at
  // image_out), channels [c0, c0 + width): the masked value, then the
  // stage. `rows`: room for kMaskedRowsPerTask pointers (sparse_conv.cc).
  void FillMasked(const float* residual, size_t n, float* image_out, size_t first, size_t end, size_t c0,
                  size_t width, float** rows) const;
  // With computes_all_: the masked pixels in [first_pixel, end_pixel) of an
  // image (output at image_out), channels [c0, c0 + width), get the masked
  // value before the stage pass, or after the stage if the kernel applies
  // it (unless skipped).
  void OverwriteMasked(float* image_out, size_t first_pixel, size_t end_pixel, size_t c0, size_t width) const;
  // RunRows through depthwise_image_rows_.
  void RunDepthwiseImageRows(const float* input, float* output, ThreadPool* pool, const float* residual,
                             int first_row, int end_row);
  WorkPlan PlanWork(int num_threads, size_t active, size_t masked) const;
  // Channel tiles a channel chunk holds a multiple of, and chunk k of n's first tile.
  size_t ChannelGranule() const;
  size_t ChunkStart(size_t chunk, size_t chunks, size_t units) const;
  void PlanOutputOffsets();

  SparseConvParams params_;
  ConvBlocking blocking_;
  AlignedFloats packed_weights_;
  kernels::ConvRowsFn conv_rows_ = nullptr;
  kernels::IgemmKernel igemm_{};
  // Per group: igemm tiles (bias = conv_bias + add_bias), block after
  // block of the reduction (igemm_blocks_), each block's tiles end to end:
  // the weights an igemm call streams (a block of a pass's tiles) lie in one
  // range, and so do the next call's, which it prefetches. One block: the
  // layout of kernels::PackIgemmWeights.
  AlignedFloats igemm_weights_;
  std::vector<ReductionBlock> igemm_blocks_;
  AlignedFloats unscaled_weights_;          // SetInputScale: the weights in use as packed
  bool unscaled_igemm_ = false;             // of the igemm packing (else the tap-blocked one)
  size_t group_igemm_weights_ = 0;
  kernels::DepthwiseRowsFn depthwise_rows_ = nullptr;
  // A depthwise conv of stride 1 or 2 (nothing masked in its input) can run by
  // whole image rows where the CPU has that kernel: no indirection, each
  // input vector used for every kernel column from registers; every pixel
  // computed, masked ones then overwritten (unless skipped). Null: through
  // depthwise_rows_. by_image_rows_: whether it does (ChooseImageRows).
  kernels::DepthwiseImageRowsFn depthwise_image_rows_ = nullptr;
  bool by_image_rows_ = false;
  int planned_threads_ = 0;  // see set_planned_threads
  // Per image, the input row (or null: padding) of output row y's kernel
  // row ky at [y * stride + ky], and output row y at [y]; refilled by every run for
  // its rows (the tensors may move, rings wrap).
  std::vector<const float*> image_input_rows_;
  std::vector<float*> image_output_rows_;
  const kernels::ElementwiseKernels* elementwise_ = nullptr;
  OutputStage stage_;
  // Regular conv: per group, its output channels as tiles of kConvTile
  // (group_tiles_ each), its packed weights group_weights_ floats apart.
  size_t group_tiles_ = 0, group_weights_ = 0;
  std::vector<float> conv_bias_, add_bias_, masked_value_;
  AlignedFloats masked_output_;  // masked_value_ through a stage without residual
  bool skip_masked_ = false;     // masked pixels are not written (SkipMaskedOutputs)
  // ReadMaskedInput: input pixels read at masked_input_value_ where this is 0 (empty: none).
  std::vector<uint8_t> masked_input_mask_;
  const float* masked_input_value_ = nullptr;
  // The pixels Run computes, y * W_out + x, row-major: those of mask = 1, or
  // every pixel with computes_all_ (masked ones then overwritten).
  std::vector<uint32_t> active_pixels_;
  std::vector<uint32_t> masked_pixels_;  // mask = 0
  bool computes_all_ = false;
  // Index of the first active (masked) pixel of each output row, and the end.
  std::vector<size_t> active_row_start_, masked_row_start_;
  PixelLayout input_layout_, output_layout_;
  // Each active / masked pixel's output offset within its image (output_layout_).
  std::vector<size_t> active_offsets_, masked_offsets_;
  AlignedFloats zero_row_;  // what a padding tap reads: kernel_channels_ zeros
  // The reduction as the kernels see it, taps x channels per tap. With
  // merge_rows_ (regular conv, few input channels) a tap is a whole kernel
  // row: kernel_width * C_in contiguous floats of the NHWC input.
  size_t kernel_taps_ = 0, kernel_channels_ = 0;
  bool merge_rows_ = false;
  // A kernel row that crosses the input's left or right edge, read from
  // patches_ + offset: input row y of `image`, columns x .. x + kernel_width - 1,
  // zeros outside the input. Filled by every Run for the output rows it
  // computes (the input changes; a banded step runs a few rows at a time).
  struct RowPatch {
    size_t offset;
    int image, y, x;
    int output_row;
  };
  std::vector<RowPatch> row_patches_;  // by image, then output row
  std::vector<size_t> image_patch_start_;  // batch + 1 indices into row_patches_
  AlignedFloats patches_;
  // batch * active * taps pointers into the input; valid for planned_input_.
  std::vector<const float*> indirection_;
  const float* planned_input_ = nullptr;
  WorkPlan plan_;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_OPERATOR_SPARSE_CONV_H_
