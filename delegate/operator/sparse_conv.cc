#include "delegate/operator/sparse_conv.h"

#include <algorithm>
#include <cstdint>


namespace actsparse {
namespace {

// Cache blocking of the regular conv (see WorkPlan in the header):
// - a task covers at most rows_per_task active pixels, so its input
//   rows of one tap block (rows x ~reduction_block floats) stay in L2 while
//   every channel tile of the chunk walks over them;
// - a tap block holds about reduction_block reduction values per output, so
//   one tile's weights of the block (kTapBlockChannels x 16 floats, 64 KB)
//   stay in L2 across the task's row blocks. Measured on ResNet-18 (Zen 3):
//   256 and 512 were slower than 1024 (partial sums round-trip more often);
//   1024 and 2048 were alike; no blocking was ~1% slower.
// (Defaults of ConvBlocking: rows_per_task = 96, reduction_block = 1024.)
// A task's row pointers live on the stack: rows_per_task is capped here.
constexpr size_t kMaxRowsPerTask = 512;
// Masked pixels are a plain copy: larger tasks.
constexpr size_t kMaskedRowsPerTask = 128;
// With several threads, aim for this many tasks per thread so a thread that
// the OS delays (the machine is shared with XNNPACK's own threads) does not
// hold up the others for long.
constexpr size_t kTasksPerThread = 4;
// Row chunks are at least this tall, so a chunk fills most of a register
// block. (Not the AVX-512 kernel's 10: chunks of its block height were no
// faster on MobileNetV2/V3 or ResNet-18 at 2 threads.)
constexpr size_t kRowGranule = 6;
// A depthwise task's pixels: at least this many, and chunks start at
// multiples of the kernels' pixel block (4 on every ISA), so no task but the
// last ends in a short block that loads each weight vector for 1-3 pixels.
// 7x7 and 14x14 layers at 2 threads were split into 8 tasks of 6 pixels
// (a 4- and a 2-pixel block each) and ran at 1.2-1.5x their 1-thread speed.
constexpr size_t kDepthwiseTaskPixels = 16;
constexpr size_t kDepthwisePixelBlock = 4;
// Depthwise convs by image rows (RunDepthwiseImageRows): row chunks per
// thread, guided. At 2 threads against the pointer kernel (one process,
// builds swapped): MobileNetV3-Large +2.3-2.8%, MobileNetV2 -0.3 to -0.9%;
// 8 equal chunks: +2.3-3.5% and -1.6%.
constexpr size_t kImageRowChunksPerThread = 4;
// SetInputScale splits the tiles over the threads in tasks of at least this many weights.
constexpr size_t kMinScaledFloatsPerTask = 16384;
// Rows per kernel call, by image rows, when a fused stage or the masked
// pixels' value follow: about this many output bytes, so they are in cache.
constexpr size_t kImageRowsFinishBytes = 64 * 1024;
// Input rows per kernel call, by image rows: about this many bytes.
constexpr size_t kImageRowsInputBytes = 256 * 1024;
// With several threads, a conv with few active rows splits its rows alone
// (every task all output channels) while each task keeps at least this many
// rows and the weights are small enough for every task to stream them from
// L2; else it splits the output channels too. Rows alone keep every pixel's
// channels on one core, where the next op (the depthwise conv of an inverted
// residual, which reads all channels of its rows) finds them.
constexpr size_t kMinRowsPerRowOnlyTask = 12;
constexpr size_t kRowOnlyMaxWeightBytes = 512 * 1024;
// A regular conv with at most this many input channels reads each kernel row
// as kernel_width * in_channels contiguous floats: one long "tap" instead of
// kernel_width short ones (the 7x7 stem on RGB: 7 taps of 21 channels
// instead of 49 of 3). NHWC stores a kernel row that lies inside the input
// contiguously already; only rows crossing the left or right edge need a
// zero-padded copy (see RowPatch).
constexpr int kMergeRowsMaxChannels = 8;

size_t CeilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

// Whether a depthwise conv that the image-rows kernel takes is expected to
// run faster by image rows (all `pixels` output pixels, inputs by
// arithmetic) than its `active` pixels through pointers. The pointer kernel
// pays per pixel for its taps' pointers (loads, and 8 bytes per tap of
// indirection that the caches must hold: 72 bytes for a 3x3 kernel, more
// than half a 32-channel pixel), which weighs most with few channels: per
// active pixel as C + kPointerChannels channels by image rows, times
// kImageRowsPerPointer. Fitted on MobileNetV2 with every conv masked (Zen 5,
// in the network: pointers over image rows 1.6-2.4x at 32 channels, 1.2-1.4x
// at 144, ~1.0-1.2x at 384-960, the spread between a warm and a cold cache),
// then checked one process, builds swapped, at s = 0.1 / 0.2 / 0.3 against
// the pointer kernel for every masked conv: +1.5-1.7% / +1.1-1.3% /
// +1.2-1.8% at 1 thread (0.85 and 12 in place of 1.07 and 30: as fast at
// s = 0.2 / 0.3, 0.7-2.3% slower at s = 0.1).
constexpr double kPointerChannels = 30.0;
constexpr double kImageRowsPerPointer = 1.07;
bool ImageRowsPay(size_t active, size_t pixels, size_t channels) {
  const double c = static_cast<double>(channels);
  return static_cast<double>(active) * (c + kPointerChannels) >= kImageRowsPerPointer * static_cast<double>(pixels) * c;
}

// Whether a masked regular conv is expected to run faster computing every
// pixel (then overwriting the masked ones, ComputeAll) than its active
// pixels alone. Only a fused stage applied as a pass (not in the kernel,
// StageInKernel) makes the active pixels dear: it is applied per run of
// consecutive active pixels (a call every ~3 pixels at s = 0.3), where
// computing all applies it per row segment. Against that, every masked
// pixel costs its multiply-adds. So: a stage pass, and at most
// kComputeAllMacs x density multiply-adds per pixel. Fitted on
// MobileNetV3-Large with every conv masked (Intel Xeon, AVX-512): its
// 16 -> 16 1x1 conv with a residual stage at 112x112 took 157 us for the
// active pixels, 105 us computing all (dense: 97 us); its 16 -> 64 expand
// conv, no stage, went 246 -> 294 us computing all. The whole network,
// one build, this rule against none: s = 0.3 +3.3 / +0.7% at 1 thread
// (order swapped), +3.7% at 2; s = 0.1 +0.3%; MobileNetV2 within 0.6%
// (1000 and 4000 in place of 2000: +2.6% and +2.8% at s = 0.3).
constexpr double kComputeAllMacs = 2000.0;
bool ComputeAllPays(size_t active, size_t masked, size_t macs_per_pixel, bool stage) {
  const double density = static_cast<double>(active) / static_cast<double>(active + masked);
  return stage && static_cast<double>(macs_per_pixel) <= kComputeAllMacs * density;
}

}  // namespace

std::unique_ptr<SparseConvOperator> SparseConvOperator::Create(
    const SparseConvParams& p, const float* weights, const float* conv_bias,
    const float* add_bias, const uint8_t* mask, std::string* error, const OutputStage& stage) {
  const bool positive = p.batch > 0 && p.input_height > 0 && p.input_width > 0 &&
                        p.input_channels > 0 && p.output_height > 0 && p.output_width > 0 &&
                        p.output_channels > 0 && p.kernel_height > 0 && p.kernel_width > 0 &&
                        p.stride_height > 0 && p.stride_width > 0 && p.dilation_height > 0 &&
                        p.dilation_width > 0 && p.padding_top >= 0 && p.padding_left >= 0 &&
                        p.groups > 0;
  if (!positive) {
    *error = "sparse conv: non-positive size, stride, dilation or groups, or negative padding";
    return nullptr;
  }
  if (p.depthwise && p.output_channels != p.input_channels * p.depth_multiplier) {
    *error = "sparse conv: depthwise output channels != input channels * depth multiplier";
    return nullptr;
  }
  if (!p.depthwise && (p.input_channels % p.groups != 0 || p.output_channels % p.groups != 0)) {
    *error = "sparse conv: " + std::to_string(p.input_channels) + " input and " +
             std::to_string(p.output_channels) + " output channels do not split into " +
             std::to_string(p.groups) + " groups";
    return nullptr;
  }
  if (weights == nullptr) {
    *error = "sparse conv: missing weights";
    return nullptr;
  }
  std::unique_ptr<SparseConvOperator> op(new SparseConvOperator());
  op->params_ = p;
  op->stage_ = stage;
  op->elementwise_ = &kernels::SelectElementwiseKernels();
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  const size_t cout = p.output_channels;
  if (p.depthwise) {
    // [1, KH, KW, C*M] is already [taps][out_channels].
    op->packed_weights_.assign(weights, weights + taps * cout);
    op->depthwise_rows_ = kernels::SelectDepthwiseRows(nullptr);
    op->kernel_taps_ = taps;
    op->kernel_channels_ = p.input_channels;
  } else {
    const size_t groups = p.groups;
    const size_t cin = p.input_channels / groups, group_cout = cout / groups;
    op->merge_rows_ = groups == 1 && p.input_channels <= kMergeRowsMaxChannels && p.dilation_width == 1 &&
                      p.kernel_width > 1;
    // OHWI is (ky, kx, ci) per output channel, so merged rows pack as taps = KH
    // of KW * Cin channels: the same weights in the same order.
    op->kernel_taps_ = op->merge_rows_ ? p.kernel_height : taps;
    op->kernel_channels_ = op->merge_rows_ ? p.kernel_width * cin : cin;
    op->group_tiles_ = CeilDiv(group_cout, kernels::kConvTile);
    op->group_weights_ = kernels::PackedConvWeightsSize(op->kernel_taps_, op->kernel_channels_, group_cout);
    op->packed_weights_.resize(groups * op->group_weights_);
    for (size_t g = 0; g < groups; ++g) {
      kernels::PackConvWeights(weights + g * group_cout * taps * cin, op->kernel_taps_, op->kernel_channels_,
                               group_cout, op->packed_weights_.data() + g * op->group_weights_);
    }
    op->conv_rows_ = kernels::SelectConvRows(nullptr);
    op->igemm_ = kernels::SelectIgemm();
  }
  op->conv_bias_.assign(cout, 0.0f);
  op->add_bias_.assign(cout, 0.0f);
  if (conv_bias) op->conv_bias_.assign(conv_bias, conv_bias + cout);
  if (add_bias) op->add_bias_.assign(add_bias, add_bias + cout);
  op->LayOutIgemmWeights();  // the same weights for the igemm kernel, each tile led by its bias
  // A masked pixel is ((0 + cb) * 0 + ab) = ab through the activation.
  op->masked_value_.resize(cout);
  for (size_t c = 0; c < cout; ++c) {
    op->masked_value_[c] = std::min(std::max(op->add_bias_[c], p.output_min), p.output_max);
  }
  op->masked_output_.assign(op->masked_value_.begin(), op->masked_value_.end());
  if (!stage.residual && !stage.empty()) {
    ApplyOutputStage(*op->elementwise_, stage, op->masked_output_.data(), nullptr, cout);
  }
  for (int y = 0; y < p.output_height; ++y) {
    op->masked_row_start_.push_back(op->masked_pixels_.size());
    for (size_t i = static_cast<size_t>(y) * p.output_width; i < static_cast<size_t>(y + 1) * p.output_width; ++i) {
      if (mask != nullptr && !mask[i]) op->masked_pixels_.push_back(static_cast<uint32_t>(i));
    }
  }
  op->masked_row_start_.push_back(op->masked_pixels_.size());
  op->input_layout_ = PixelLayout::Dense(p.input_height, p.input_width, p.input_channels);
  op->output_layout_ = PixelLayout::Dense(p.output_height, p.output_width, p.output_channels);
  op->ChooseComputeAll();  // lists the pixels Run computes, and every pixel's output offset
  // A padding tap reads zeros: a whole input pixel (a group reads its slice
  // of it), or a whole merged kernel row.
  op->zero_row_.assign(std::max<size_t>(op->kernel_channels_, p.input_channels), 0.0f);
  if (p.depthwise && p.depth_multiplier == 1 && p.stride_height == p.stride_width && p.dilation_height == 1 &&
      p.dilation_width == 1 &&
      kernels::DepthwiseImageRowsTakes(static_cast<size_t>(p.kernel_width), static_cast<size_t>(p.stride_width))) {
    op->depthwise_image_rows_ = kernels::SelectDepthwiseImageRows(nullptr);
    const size_t per_image = static_cast<size_t>((p.output_height - 1) * p.stride_height + p.kernel_height);
    op->image_input_rows_.resize(static_cast<size_t>(p.batch) * per_image);
    op->image_output_rows_.resize(static_cast<size_t>(p.batch) * p.output_height);
    op->ChooseImageRows();
  }
  return op;
}

void SparseConvOperator::ChooseImageRows() {
  switch (blocking_.depthwise_image_rows) {
    case ConvBlocking::ImageRows::kAlways:
      by_image_rows_ = true;
      return;
    case ConvBlocking::ImageRows::kNever:
      by_image_rows_ = false;
      return;
    case ConvBlocking::ImageRows::kAuto:
      break;
  }
  if (static_cast<size_t>(params_.output_width) < kernels::DepthwiseImageRowsMinWidth()) {
    // Rows too narrow for the CPU's kernel to beat pointers (AVX2: 7 and 14).
    by_image_rows_ = false;
    return;
  }
  if (params_.stride_width == 2 && params_.kernel_width == 3) {
    // Each input vector feeds only 2.25 FMAs on average, so the loads saved
    // hardly matter, and the pointer kernel, all channels of a few pixels at a
    // time, reads the input in longer runs. By image rows against pointers
    // (conv_bench, 1 thread): MobileNetV2's 112 -> 56 layer 0.93x, 56 -> 28
    // 1.09x, 28 -> 14 0.84x; in the network MobileNetV3-Large's 112 -> 56
    // band step 3-10% slower. 5x5 ones gain alone: 56 -> 28 1.83x, 14 -> 7
    // 0.99-1.52x (the cost model below then decides).
    by_image_rows_ = false;
    return;
  }
  const size_t pixels = static_cast<size_t>(params_.output_height) * params_.output_width;
  if (planned_threads_ == 1 && active_pixels_.size() == pixels && params_.stride_width == 1) {
    // Dense, one thread: image rows whatever the channels (the model below
    // sends more than 428 to pointers). Per step, MobileNetV2 at 1 thread:
    // 14x14x576 30 -> 21 us, 7x7x960 11 -> 7-8; MobileNetV3-Large 7x7x960
    // 30-31 -> 24-28. At 2 threads image rows split few rows into uneven
    // tasks: the 7x7x960 steps went 9 -> 10-12 us (V3 21 -> 27-33), so a
    // plan for several threads keeps the model. (MobileNetV3's 5x5 14 -> 7
    // conv of stride 2 went 24 -> 28 us by image rows: stride 1 only.)
    by_image_rows_ = true;
    return;
  }
  by_image_rows_ = ImageRowsPay(active_pixels_.size(), pixels, static_cast<size_t>(params_.output_channels));
}

void SparseConvOperator::set_blocking(const ConvBlocking& blocking) {
  blocking_ = blocking;
  plan_ = WorkPlan();
  ChooseImageRows();
  ChooseComputeAll();
  if (!unscaled_weights_.empty()) {
    // Scaled weights back as packed: the igemm blocks may be laid out anew
    // from packed_weights_ below; the next SetInputScale scales again.
    std::copy(unscaled_weights_.begin(), unscaled_weights_.end(),
              (unscaled_igemm_ ? igemm_weights_ : packed_weights_).begin());
    unscaled_weights_.clear();
  }
  LayOutIgemmWeights();
}

SparseConvOperator::ReductionShape SparseConvOperator::ReductionBlockShape() const {
  // Whole taps while a tap is short, else one tap split into balanced blocks
  // of input channels.
  // igemm: the whole reduction in one call up to igemm_blocked_from, else
  // blocks of igemm_reduction_block: a row block's inputs of one block (10
  // rows x 512 floats, 20 KB) stay in L1 while every tile pair of the pass
  // reads them, where a whole reduction (ResNet's 7x7 layers: 4608 values,
  // 184 KB) came from L2 again for each tile pair. ResNet-18's 3x3 conv of
  // 512 channels at 7x7 alone, against XNNPACK, one process: 1.41x -> 1.64x
  // at 1 thread, 1.25x -> 1.51x at 2; the 14x14 one (2304 values) was 4%
  // slower blocked, hence the threshold. Same sums in the same order.
  // ConvRows: blocks of reduction_block.
  ReductionShape shape;
  const size_t full_reduction = kernel_taps_ * kernel_channels_;
  shape.igemm_blocked =
      uses_igemm() && blocking_.igemm_reduction_block && full_reduction > blocking_.igemm_blocked_from;
  const size_t reduction = uses_igemm() ? (shape.igemm_blocked ? blocking_.igemm_reduction_block : full_reduction)
                                        : (blocking_.reduction_block ? blocking_.reduction_block : full_reduction);
  const size_t taps_per_block = std::max<size_t>(1, reduction / kernel_channels_);
  shape.taps_per_block =
      params_.depthwise ? kernel_taps_ : CeilDiv(kernel_taps_, CeilDiv(kernel_taps_, taps_per_block));
  shape.channels_per_block = CeilDiv(kernel_channels_, CeilDiv(kernel_channels_, reduction));
  return shape;
}

void SparseConvOperator::LayOutIgemmWeights() {
  if (params_.depthwise) return;
  const ReductionShape shape = ReductionBlockShape();
  const size_t taps = kernel_taps_, cin = kernel_channels_;
  // Not blocked (or not igemm at all): one block, the whole reduction.
  const size_t taps_per_block = shape.igemm_blocked ? shape.taps_per_block : taps;
  const size_t channels_per_block = shape.igemm_blocked ? shape.channels_per_block : cin;
  std::vector<ReductionBlock> blocks;
  size_t offset = 0;
  for (size_t tap = 0; tap < taps; tap += taps_per_block) {
    for (size_t c = 0; c < cin; c += channels_per_block) {
      ReductionBlock block;
      block.tap = tap;
      block.taps = std::min(taps_per_block, taps - tap);
      block.channel = c;
      block.channels = std::min(channels_per_block, cin - c);
      block.offset = offset;
      offset += group_tiles_ * block.tile_stride();
      blocks.push_back(block);
    }
  }
  const auto same = [](const ReductionBlock& x, const ReductionBlock& y) {
    return x.tap == y.tap && x.taps == y.taps && x.channel == y.channel && x.channels == y.channels;
  };
  if (std::equal(blocks.begin(), blocks.end(), igemm_blocks_.begin(), igemm_blocks_.end(), same)) return;
  igemm_blocks_ = std::move(blocks);
  group_igemm_weights_ = offset;
  const size_t groups = params_.groups, group_cout = params_.output_channels / groups;
  igemm_weights_.assign(groups * group_igemm_weights_, 0.0f);
  const size_t conv_tile_floats = taps * cin * kernels::kConvTile;
  for (size_t g = 0; g < groups; ++g) {
    for (size_t tile = 0; tile < group_tiles_; ++tile) {
      float bias[kernels::kIgemmTile] = {};  // zeros past the group's last channel
      for (size_t i = 0; i < kernels::kIgemmTile && tile * kernels::kIgemmTile + i < group_cout; ++i) {
        const size_t c = g * group_cout + tile * kernels::kIgemmTile + i;
        bias[i] = conv_bias_[c] + add_bias_[c];
      }
      const float* conv_tile = packed_weights_.data() + g * group_weights_ + tile * conv_tile_floats;
      for (const ReductionBlock& block : igemm_blocks_) {
        kernels::PackIgemmTileFromConvTile(
            conv_tile, bias, block.tap * cin + block.channel, block.taps * block.channels,
            igemm_weights_.data() + IgemmTileOffset(g, block, tile));
      }
    }
  }
}

void SparseConvOperator::SetInputScale(const float* scale, ThreadPool* pool) {
  // The kernel in use reads one of the two packings: the igemm tiles lead
  // with their bias row (left as it is), the tap-blocked ones have none.
  const bool igemm = uses_igemm();
  if (!unscaled_weights_.empty() && unscaled_igemm_ != igemm) {
    // set_blocking changed the kernel: the other packing back as packed.
    AlignedFloats& old = unscaled_igemm_ ? igemm_weights_ : packed_weights_;
    std::copy(unscaled_weights_.begin(), unscaled_weights_.end(), old.begin());
    unscaled_weights_.clear();
  }
  AlignedFloats& weights = igemm ? igemm_weights_ : packed_weights_;
  if (unscaled_weights_.empty()) {
    unscaled_weights_.assign(weights.begin(), weights.end());
    unscaled_igemm_ = igemm;
  }
  // The tiles to scale (one tap, one group: TakesInputScale): tile t of
  // block t / group_tiles_ (the tap-blocked packing: one block) reads the
  // block's input channels after `lead` floats (an igemm tile's bias).
  const size_t lead = igemm ? kernels::kIgemmTile : 0;
  const size_t blocks = igemm ? igemm_blocks_.size() : 1, tiles = blocks * group_tiles_;
  const size_t tile_floats = weights.size() / tiles;  // on average
  ParallelRanges(pool, tiles, std::max<size_t>(1, kMinScaledFloatsPerTask / tile_floats),
                 [&](size_t begin, size_t end) {
                   for (size_t t = begin; t < end; ++t) {
                     size_t offset = t * kernels::kConvTile * kernel_channels_, channel = 0;
                     size_t channels = kernel_channels_;
                     if (igemm) {
                       const ReductionBlock& block = igemm_blocks_[t / group_tiles_];
                       offset = IgemmTileOffset(0, block, t % group_tiles_);
                       channel = block.channel;
                       channels = block.channels;
                     }
                     const float* from = unscaled_weights_.data() + offset;
                     float* to = weights.data() + offset;
                     std::copy(from, from + lead, to);
                     elementwise_->scale_rows(channels, kernels::kConvTile, from + lead, scale + channel, to + lead);
                   }
                 });
}

void SparseConvOperator::ChooseComputeAll() {
  const SparseConvParams& p = params_;
  bool all = false;
  if (!p.depthwise && !masked_pixels_.empty()) {
    switch (blocking_.masked_computes_all) {
      case ConvBlocking::Choice::kAlways:
        all = true;
        break;
      case ConvBlocking::Choice::kNever:
        break;
      case ConvBlocking::Choice::kAuto: {
        const size_t pixels = static_cast<size_t>(p.output_height) * p.output_width;
        all = ComputeAllPays(pixels - masked_pixels_.size(), masked_pixels_.size(),
                             kernel_taps_ * kernel_channels_ * (p.output_channels / p.groups),
                             !stage_.empty() && !StageInKernel());
        break;
      }
    }
  }
  if (all == computes_all_ && !active_row_start_.empty()) return;  // listed already
  computes_all_ = all;
  const std::vector<uint8_t> mask = OutputMask();
  active_pixels_.clear();
  active_row_start_.clear();
  for (int y = 0; y < p.output_height; ++y) {
    active_row_start_.push_back(active_pixels_.size());
    for (size_t i = static_cast<size_t>(y) * p.output_width; i < static_cast<size_t>(y + 1) * p.output_width; ++i) {
      if (all || mask[i]) active_pixels_.push_back(static_cast<uint32_t>(i));
    }
  }
  active_row_start_.push_back(active_pixels_.size());
  PlanOutputOffsets();
  planned_input_ = nullptr;
  plan_ = WorkPlan();
}

void SparseConvOperator::RunDepthwiseImageRows(const float* input, float* output, ThreadPool* pool,
                                               const float* residual, int first_row, int end_row) {
  const SparseConvParams& p = params_;
  const size_t channels = p.output_channels, kh = p.kernel_height, stride = p.stride_height;
  const size_t in_per_image = (p.output_height - 1) * stride + kh;
  for (int n = 0; n < p.batch; ++n) {
    const float* image_in = input + n * input_layout_.image_stride;
    float* image_out = output + n * output_layout_.image_stride;
    for (size_t i = first_row * stride; i < (end_row - 1) * stride + kh; ++i) {
      const int iy = static_cast<int>(i) - p.padding_top;  // dilation 1
      image_input_rows_[n * in_per_image + i] =
          iy >= 0 && iy < p.input_height ? image_in + input_layout_.Offset(iy, 0, channels) : nullptr;
    }
    for (int y = first_row; y < end_row; ++y) {
      image_output_rows_[n * p.output_height + y] = image_out + output_layout_.Offset(y, 0, channels);
    }
  }
  const size_t rows = static_cast<size_t>(end_row - first_row);
  const kernels::StoreOp store_op = KernelStoreOp();
  // The fused stage as a pass over the written rows (else in the kernel, or none).
  const bool stage_pass = !stage_.empty() && store_op == kernels::StoreOp::kNone;
  const size_t threads = pool != nullptr ? static_cast<size_t>(pool->num_threads()) : 1;
  // One call per image at one thread (the kernel's channel slices then run
  // over every row); with several, a few row chunks per thread, each of
  // which reads kernel_height - 1 rows beyond its own.
  const size_t chunks = threads > 1 ? std::min(rows, threads * kImageRowChunksPerThread) : 1;
  const size_t row_floats = static_cast<size_t>(p.output_width) * channels;
  // The kernel computes the masked pixels too: they take the masked value
  // (unless no reader looks at them, SkipMaskedOutputs), and the stage
  // follows, both while the rows are in cache: a few rows per call then.
  const bool fill = !skip_masked_ && !masked_pixels_.empty();
  size_t call_rows = fill || stage_pass ? std::max<size_t>(1, kImageRowsFinishBytes / (row_floats * sizeof(float)))
                                        : rows;
  // Each channel slice of a call walks all its input rows: no more of them
  // than stay in cache from one slice to the next.
  const size_t input_row_bytes = static_cast<size_t>(p.input_width) * channels * sizeof(float);
  const size_t rows_fitting = kImageRowsInputBytes / input_row_bytes;  // (call_rows - 1) * stride + kh of them
  call_rows = std::min(call_rows, rows_fitting > kh ? (rows_fitting - kh) / stride + 1 : size_t{1});
  auto task = [&](size_t index) {
    const size_t n = index / chunks, chunk = index % chunks;
    // Guided (see ThreadPool::GuidedChunkStart): each thread's share of the
    // rows (the rows the op before wrote there) starts with its largest chunk.
    const size_t y0 = first_row + ThreadPool::GuidedOrEqualChunkStart(chunk, chunks, threads, rows);
    const size_t y1 = first_row + ThreadPool::GuidedOrEqualChunkStart(chunk + 1, chunks, threads, rows);
    if (y0 >= y1) return;
    kernels::DepthwiseImageRowsArgs args;
    args.channels = channels;
    args.stride = stride;
    args.input_width = p.input_width;
    args.output_width = p.output_width;
    args.kernel_height = kh;
    args.kernel_width = p.kernel_width;
    args.pad_left = p.padding_left;
    args.weights = packed_weights_.data();
    args.conv_bias = conv_bias_.data();
    args.add_bias = add_bias_.data();
    args.out_min = p.output_min;
    args.out_max = p.output_max;
    args.store_op = store_op;
    float* image_out = output + n * output_layout_.image_stride;
    for (size_t ya = y0; ya < y1; ya += call_rows) {
      const size_t yb = std::min(y1, ya + call_rows);
      args.rows = yb - ya;
      args.input_rows = image_input_rows_.data() + n * in_per_image + ya * stride;
      args.output_rows = image_output_rows_.data() + n * p.output_height + ya;
      depthwise_image_rows_(args);
      if (stage_pass) {
        for (size_t y = ya; y < yb; ++y) {
          const float* res = residual ? residual + (n * p.output_height + y) * row_floats : nullptr;
          ApplyOutputStage(*elementwise_, stage_, args.output_rows[y - ya], res, row_floats);
        }
      }
      if (fill && masked_row_start_[ya] < masked_row_start_[yb]) {
        float* rows[kMaskedRowsPerTask];
        FillMasked(residual, n, image_out, masked_row_start_[ya], masked_row_start_[yb], 0, channels, rows);
      }
    }
  };
  const size_t tasks = static_cast<size_t>(p.batch) * chunks;
  if (threads > 1) {
    pool->ParallelFor(tasks, task);
  } else {
    for (size_t t = 0; t < tasks; ++t) task(t);
  }
}

void SparseConvOperator::FinishRows(const float* residual, size_t n, size_t count, float* const* rows,
                                    const uint32_t* pixels, size_t c0, size_t width) const {
  if (stage_.empty()) return;
  const size_t cout = params_.output_channels;
  const size_t pixels_per_image = static_cast<size_t>(params_.output_height) * params_.output_width;
  // While the rows are in cache. Consecutive pixels whose rows lie end to
  // end (all channels of a dense output) go in one call: a call per row of
  // 24-96 channels cost more than the residual ADD it applies.
  for (size_t r = 0; r < count;) {
    size_t run = 1;
    if (width == cout) {
      while (r + run < count && rows[r + run] == rows[r] + run * width && pixels[r + run] == pixels[r] + run) ++run;
    }
    const float* res = residual ? residual + (n * pixels_per_image + pixels[r]) * cout + c0 : nullptr;
    ApplyOutputStage(*elementwise_, stage_, rows[r], res, run * width);
    r += run;
  }
}

void SparseConvOperator::FillMasked(const float* residual, size_t n, float* image_out, size_t first, size_t end,
                                    size_t c0, size_t width, float** rows) const {
  for (size_t block = first; block < end; block += kMaskedRowsPerTask) {
    const size_t count = std::min(kMaskedRowsPerTask, end - block);
    for (size_t r = 0; r < count; ++r) rows[r] = image_out + masked_offsets_[block + r] + c0;
    // Without a residual the stage gives every masked pixel one value,
    // masked_output_: no pass over them (it cost a call per run of masked
    // pixels).
    if (!stage_.residual) {
      elementwise_->fill_rows(count, rows, masked_output_.data() + c0, width);
      continue;
    }
    elementwise_->fill_rows(count, rows, masked_value_.data() + c0, width);
    FinishRows(residual, n, count, rows, masked_pixels_.data() + block, c0, width);
  }
}

void SparseConvOperator::OverwriteMasked(float* image_out, size_t first_pixel, size_t end_pixel, size_t c0,
                                         size_t width) const {
  if (skip_masked_) return;
  const auto begin = std::lower_bound(masked_pixels_.begin(), masked_pixels_.end(), first_pixel);
  const auto end = std::lower_bound(begin, masked_pixels_.end(), end_pixel);
  const float* value = (StageInKernel() ? masked_output_.data() : masked_value_.data()) + c0;
  float* rows[kMaskedRowsPerTask];
  for (size_t i = begin - masked_pixels_.begin(), e = end - masked_pixels_.begin(); i < e;) {
    const size_t count = std::min(kMaskedRowsPerTask, e - i);
    for (size_t r = 0; r < count; ++r) rows[r] = image_out + masked_offsets_[i + r] + c0;
    elementwise_->fill_rows(count, rows, value, width);
    i += count;
  }
}

size_t SparseConvOperator::ChannelGranule() const { return uses_igemm() ? igemm_.tiles_per_step : 1; }

size_t SparseConvOperator::ChunkStart(size_t chunk, size_t chunks, size_t units) const {
  const size_t granule = ChannelGranule();
  return std::min(units, chunk * CeilDiv(units, granule) / chunks * granule);
}

void SparseConvOperator::SetLayouts(const PixelLayout& input, const PixelLayout& output) {
  input_layout_ = input;
  output_layout_ = output;
  planned_input_ = nullptr;  // the indirection follows the input layout
  PlanOutputOffsets();
}

bool SparseConvOperator::ReadsPixelsDirectly() const {
  const SparseConvParams& p = params_;
  // Rows end to end (a dense tensor, or a ring of rows: RunRows breaks the
  // rows where a ring wraps).
  auto rows_abut = [](const PixelLayout& layout, int width, int channels) {
    return layout.row_stride == static_cast<size_t>(width) * channels;
  };
  return !p.depthwise && p.groups == 1 && kernel_taps_ == 1 && !merge_rows_ && p.stride_height == 1 &&
         p.stride_width == 1 && p.padding_top == 0 && p.padding_left == 0 && p.input_height == p.output_height &&
         p.input_width == p.output_width && (masked_pixels_.empty() || computes_all_) && masked_input_mask_.empty() &&
         uses_igemm() &&
         rows_abut(input_layout_, p.input_width, p.input_channels) &&
         rows_abut(output_layout_, p.output_width, p.output_channels);
}

void SparseConvOperator::PlanOutputOffsets() {
  const size_t width = static_cast<size_t>(params_.output_width), cout = params_.output_channels;
  auto offsets = [&](const std::vector<uint32_t>& pixels, std::vector<size_t>* out) {
    out->clear();
    for (uint32_t pixel : pixels) {
      out->push_back(output_layout_.Offset(static_cast<int>(pixel / width), static_cast<int>(pixel % width), cout));
    }
  };
  offsets(active_pixels_, &active_offsets_);
  offsets(masked_pixels_, &masked_offsets_);
}

void SparseConvOperator::FillRowPatches(const float* input, int first_row, int end_row) {
  const SparseConvParams& p = params_;
  const size_t cin = p.input_channels;
  for (int n = 0; n < p.batch; ++n) {
    const auto image_begin = row_patches_.begin() + static_cast<std::ptrdiff_t>(image_patch_start_[n]);
    const auto image_end = row_patches_.begin() + static_cast<std::ptrdiff_t>(image_patch_start_[n + 1]);
    const auto begin = std::partition_point(image_begin, image_end,
                                            [&](const RowPatch& patch) { return patch.output_row < first_row; });
    for (auto it = begin; it != image_end && it->output_row < end_row; ++it) {
      const RowPatch& patch = *it;
      float* dst = patches_.data() + patch.offset;
      const float* row = input + patch.image * input_layout_.image_stride + input_layout_.Offset(patch.y, 0, cin);
      for (int kx = 0; kx < p.kernel_width; ++kx, dst += cin) {
        const int x = patch.x + kx;
        if (x >= 0 && x < p.input_width) {
          std::copy(row + static_cast<size_t>(x) * cin, row + static_cast<size_t>(x + 1) * cin, dst);
        } else {
          std::fill(dst, dst + cin, 0.0f);
        }
      }
    }
  }
}

std::vector<uint8_t> SparseConvOperator::OutputMask() const {
  std::vector<uint8_t> mask(static_cast<size_t>(params_.output_height) * params_.output_width, 1);
  for (uint32_t pixel : masked_pixels_) mask[pixel] = 0;
  return mask;
}

void SparseConvOperator::SkipMaskedOutputs() {
  if (!has_uniform_masked_value()) return;
  skip_masked_ = true;
  plan_ = WorkPlan();
}

bool SparseConvOperator::ReadMaskedInput(const std::vector<uint8_t>& producer_mask, const float* value) {
  const SparseConvParams& p = params_;
  if (!can_read_masked_input() || value == nullptr ||
      producer_mask.size() != static_cast<size_t>(p.input_height) * p.input_width) {
    return false;
  }
  masked_input_mask_ = producer_mask;
  masked_input_value_ = value;
  planned_input_ = nullptr;  // re-plan the pointers at the next run
  return true;
}

void SparseConvOperator::PlanIndirection(const float* input) {
  const SparseConvParams& p = params_;
  if (merge_rows_) {
    // One pointer per (pixel, kernel row): into the input where the row lies
    // inside it, at zeros where it lies above or below, else at a patch.
    const size_t cin = p.input_channels;
    const size_t row_floats = kernel_channels_;
    indirection_.resize(static_cast<size_t>(p.batch) * active_pixels_.size() * kernel_taps_);
    row_patches_.clear();
    image_patch_start_.assign(1, 0);
    // Entries that read a patch, in patch order: they get their pointers once
    // patches_ is allocated and no longer moves.
    std::vector<size_t> patched_entries;
    const float** out = indirection_.data();
    for (int n = 0; n < p.batch; ++n) {
      const float* base = input + n * input_layout_.image_stride;
      for (uint32_t pixel : active_pixels_) {
        const int oy = static_cast<int>(pixel) / p.output_width;
        const int x = static_cast<int>(pixel) % p.output_width * p.stride_width - p.padding_left;
        const bool crosses_edge = x < 0 || x + p.kernel_width > p.input_width;
        for (int ky = 0; ky < p.kernel_height; ++ky, ++out) {
          const int y = oy * p.stride_height - p.padding_top + ky * p.dilation_height;
          if (y < 0 || y >= p.input_height) {
            *out = zero_row_.data();
          } else if (crosses_edge) {
            patched_entries.push_back(static_cast<size_t>(out - indirection_.data()));
            row_patches_.push_back({row_patches_.size() * row_floats, n, y, x, oy});
          } else {
            *out = base + input_layout_.Offset(y, x, cin);
          }
        }
      }
      image_patch_start_.push_back(row_patches_.size());
    }
    patches_.assign(row_patches_.size() * row_floats, 0.0f);
    for (size_t i = 0; i < patched_entries.size(); ++i) {
      indirection_[patched_entries[i]] = patches_.data() + row_patches_[i].offset;
    }
    planned_input_ = input;
    return;
  }
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  indirection_.resize(static_cast<size_t>(p.batch) * active_pixels_.size() * taps);
  const float** out = indirection_.data();
  for (int n = 0; n < p.batch; ++n) {
    const float* base = input + n * input_layout_.image_stride;
    for (uint32_t pixel : active_pixels_) {
      const int oy = static_cast<int>(pixel) / p.output_width;
      const int ox = static_cast<int>(pixel) % p.output_width;
      for (int ky = 0; ky < p.kernel_height; ++ky) {
        const int iy = oy * p.stride_height - p.padding_top + ky * p.dilation_height;
        for (int kx = 0; kx < p.kernel_width; ++kx) {
          const int ix = ox * p.stride_width - p.padding_left + kx * p.dilation_width;
          const bool inside = iy >= 0 && iy < p.input_height && ix >= 0 && ix < p.input_width;
          if (!inside) {
            *out++ = zero_row_.data();
          } else if (!masked_input_mask_.empty() && !masked_input_mask_[static_cast<size_t>(iy) * p.input_width + ix]) {
            *out++ = masked_input_value_;  // a pixel its producer left unwritten
          } else {
            *out++ = base + input_layout_.Offset(iy, ix, p.input_channels);
          }
        }
      }
    }
  }
  planned_input_ = input;
}

SparseConvOperator::WorkPlan SparseConvOperator::PlanWork(int num_threads, size_t active, size_t masked) const {
  const SparseConvParams& p = params_;
  // Channel tiles of every group, in the igemm kernel's steps (AVX-512
  // computes two tiles together: a chunk of one tile would halve it): what
  // channel chunks split.
  const size_t tiles = p.depthwise ? 1 : CeilDiv(p.groups * group_tiles_, ChannelGranule());
  const size_t threads = static_cast<size_t>(std::max(1, num_threads));
  WorkPlan plan;
  plan.num_threads = num_threads;
  const size_t rows_per_task = std::min(std::max<size_t>(blocking_.rows_per_task, 1), kMaxRowsPerTask);
  size_t row_chunks = std::max<size_t>(1, CeilDiv(active, rows_per_task));
  size_t channel_chunks = 1;
  if (threads > 1 && active > 0) {
    const size_t target = kTasksPerThread * threads;
    // Few active rows (deep layers): split the output channels too (see below).
    const size_t weight_bytes = kernel_taps_ * kernel_channels_ * p.output_channels * sizeof(float);
    const bool rows_suffice = active >= target * kMinRowsPerRowOnlyTask && weight_bytes <= kRowOnlyMaxWeightBytes;
    // Equal chunks where a divisor of the tiles gives every thread as many;
    // else the target rounded up to a multiple of the threads, chunks one
    // granule apart at most (ChunkStart). A divisor alone could leave the
    // threads unequal shares: a 1000-class fully connected layer (63
    // tiles) went in 9 chunks, 5 on one thread and 4 on the other.
    if (!p.depthwise && row_chunks < target && !rows_suffice) {
      const size_t needed = CeilDiv(target, row_chunks);
      channel_chunks = std::min(tiles, CeilDiv(needed, threads) * threads);
      for (size_t d = needed; d <= tiles; ++d) {
        if (tiles % d == 0 && (d * row_chunks) % threads == 0) {
          channel_chunks = d;
          break;
        }
      }
    }
    // Row chunks shorter than a register tile waste the kernel's width.
    const size_t max_row_chunks = std::max<size_t>(1, active / (p.depthwise ? kDepthwiseTaskPixels : kRowGranule));
    if (row_chunks * channel_chunks < target) {
      row_chunks = std::min(max_row_chunks, CeilDiv(target, channel_chunks));
    }
    while ((row_chunks * channel_chunks) % threads != 0 && row_chunks < max_row_chunks) ++row_chunks;
    // Still no multiple of the threads (the chunks' minimum size caps them):
    // fewer, equal chunks, one thread's share each, rather than a tail.
    if ((row_chunks * channel_chunks) % threads != 0 && channel_chunks == 1 && row_chunks > threads) {
      row_chunks -= row_chunks % threads;
    }
  }
  plan.row_tasks = active == 0 ? 0 : std::min(row_chunks, active);
  // Guided chunks: a step ends when its last task does, and with equal
  // tasks the other threads wait for half a task on average (MobileNetV2,
  // 2 threads: 5% of each thread's time). Each thread's range of the rows
  // goes in chunks of decreasing size (4:3:2:1 for four), so what is left
  // to wait for (or to steal) at the end is small. The pool hands task
  // ranges out contiguously (ThreadPool::RangeStart), one image's tasks.
  plan.guided = threads > 1 && channel_chunks == 1 && p.batch == 1 && plan.row_tasks % threads == 0 &&
                plan.row_tasks / threads >= 2;
  plan.channel_tasks = channel_chunks;  // 1 for depthwise; <= tiles by construction
  // Reduction blocks (see ReductionBlockShape).
  const ReductionShape shape = ReductionBlockShape();
  const bool igemm_blocked = shape.igemm_blocked;
  plan.taps_per_block = shape.taps_per_block;
  plan.channels_per_block = shape.channels_per_block;
  // igemm: tiles per pass over the rows, as many as fit tile_pass_bytes of
  // one block's weights (they stay in L2 while every row block of the task
  // streams them), in whole kernel steps (AVX-512: tile pairs) where more
  // than one fits: an odd count left a single tile in every pass, computed
  // at about half the pair's speed (MobileNetV2's 7x7 convs: 5 tiles of
  // 960 -> 160, 15 of 320 -> 1280, 31 of 160 -> 960 per pass).
  const size_t block_values = plan.taps_per_block * plan.channels_per_block;  // channels split: one tap
  const size_t tile_bytes = igemm_blocked ? block_values * kernels::kIgemmTile * sizeof(float)
                                          : kernels::IgemmTileFloats(kernel_taps_, kernel_channels_) * sizeof(float);
  plan.tiles_per_pass = std::max<size_t>(group_tiles_, 1);
  if (blocking_.tile_pass_bytes && uses_igemm()) {
    const size_t fit = blocking_.tile_pass_bytes / tile_bytes, granule = ChannelGranule();
    plan.tiles_per_pass = fit >= granule ? fit / granule * granule : std::max<size_t>(1, fit);
  }
  // With several threads, masked pixels go with the active ones of their
  // region of the image (see RunRows); else, and when nothing in the call
  // is active, in tasks of their own after the active ones (at one thread,
  // filling per region was 3-4% slower on MobileNetV2 with every conv masked).
  plan.masked_tasks =
      skip_masked_ || computes_all_ || (threads > 1 && active > 0) ? 0 : CeilDiv(masked, kMaskedRowsPerTask);
  return plan;
}

void SparseConvOperator::RunRows(const float* input, float* output, ThreadPool* pool, const float* residual,
                                 int first_row, int end_row) {
  const SparseConvParams& p = params_;
  first_row = std::max(first_row, 0);
  end_row = std::min(end_row, p.output_height);
  if (first_row >= end_row) return;
  if (runs_by_image_rows()) {
    RunDepthwiseImageRows(input, output, pool, residual, first_row, end_row);
    return;
  }
  const bool direct = ReadsPixelsDirectly();
  // The runtime may move its arena between invocations; re-plan when it does.
  if (!direct && input != planned_input_) PlanIndirection(input);
  const int num_threads = pool != nullptr ? pool->num_threads() : 1;
  // This call's pixels: a range of the active and of the masked lists.
  const size_t a0 = active_row_start_[first_row], a1 = active_row_start_[end_row];
  const size_t m0 = masked_row_start_[first_row], m1 = masked_row_start_[end_row];
  const bool whole = first_row == 0 && end_row == p.output_height;
  if (whole && plan_.num_threads != num_threads) plan_ = PlanWork(num_threads, a1 - a0, m1 - m0);
  const WorkPlan plan = whole ? plan_ : PlanWork(num_threads, a1 - a0, m1 - m0);
  // Edge patches copy the input, so they follow it at every run.
  if (merge_rows_) FillRowPatches(input, first_row, end_row);
  const size_t taps = kernel_taps_, cin = kernel_channels_;
  const size_t cout = p.output_channels;
  const size_t group_cout = p.depthwise ? cout : cout / p.groups;
  const size_t pixels_per_image = static_cast<size_t>(p.output_height) * p.output_width;
  const size_t all_active = active_pixels_.size();
  const size_t active = a1 - a0;
  const size_t active_tasks = plan.row_tasks * plan.channel_tasks;
  const size_t tasks_per_image = active_tasks + plan.masked_tasks;
  const size_t tile_stride = taps * cin * kernels::kConvTile;
  const size_t units = p.groups * group_tiles_;

  // The stage on a direct conv's pixels [first, first + count) (every pixel, in order).
  // `out`: pixel `first`'s output (channel 0); the segment's rows lie end to end.
  const kernels::StoreOp store_op = KernelStoreOp();
  const bool stage_in_kernel = store_op != kernels::StoreOp::kNone;
  auto finish_direct = [&](size_t n, float* out, size_t first, size_t count, size_t c0, size_t width) {
    if (stage_.empty() || stage_in_kernel) return;
    const float* res = residual ? residual + (n * pixels_per_image + first) * cout + c0 : nullptr;
    if (width == cout) {
      ApplyOutputStage(*elementwise_, stage_, out, res, count * cout);
      return;
    }
    for (size_t r = 0; r < count; ++r) {
      ApplyOutputStage(*elementwise_, stage_, out + r * cout + c0, res ? res + r * cout : nullptr, width);
    }
  };
  // A direct conv's pixels [first, end) as segments whose rows lie end to
  // end in both tensors: a ring layout (a banded step's) breaks them where
  // either ring wraps. segment(first pixel, count, pixel's input, its output).
  const size_t out_width = static_cast<size_t>(p.output_width);
  auto for_each_direct_segment = [&](size_t n, size_t first, size_t end, auto&& segment) {
    const float* image_in = input + n * input_layout_.image_stride;
    float* image_out = output + n * output_layout_.image_stride;
    for (size_t s0 = first; s0 < end;) {
      const size_t y = s0 / out_width, x = s0 % out_width;
      const size_t wrap = std::min((y / input_layout_.ring_rows + 1) * input_layout_.ring_rows,
                                   (y / output_layout_.ring_rows + 1) * output_layout_.ring_rows);
      const size_t s1 = std::min(end, wrap * out_width);
      segment(s0, s1 - s0, image_in + input_layout_.Offset(static_cast<int>(y), static_cast<int>(x), p.input_channels),
              image_out + output_layout_.Offset(static_cast<int>(y), static_cast<int>(x), cout));
      s0 = s1;
    }
  };
  // Output row pointers of `count` pixels at these offsets from `base`.
  auto point_rows = [](float* base, const size_t* __restrict offsets, size_t count, float** __restrict rows) {
    for (size_t r = 0; r < count; ++r) rows[r] = base + offsets[r];
  };

  // First output channel of channel tile `unit` (units: the groups' tiles in
  // order; `units` gives cout).
  auto unit_channel = [&](size_t unit) {
    return unit / group_tiles_ * group_cout + unit % group_tiles_ * kernels::kConvTile;
  };

  auto task = [&](size_t index) {
    const size_t n = index / tasks_per_image;
    const size_t t = index % tasks_per_image;
    float* image_out = output + n * output_layout_.image_stride;
    float* rows[kMaskedRowsPerTask > kMaxRowsPerTask ? kMaskedRowsPerTask : kMaxRowsPerTask];
    if (t >= active_tasks) {  // masked pixels in tasks of their own
      const size_t first = m0 + (t - active_tasks) * kMaskedRowsPerTask;
      FillMasked(residual, n, image_out, first, std::min(first + kMaskedRowsPerTask, m1), 0, cout, rows);
      return;
    }
    // Balanced chunks: sizes differ by at most one row (one tile). Guided
    // (see PlanWork): each participant's share of the rows, in chunks that
    // shrink toward the back of its range.
    const size_t row_task = t / plan.channel_tasks, channel_task = t % plan.channel_tasks;
    auto chunk_start = [&](size_t chunk) {
      if (chunk >= plan.row_tasks) return a1;
      const size_t offset =
          plan.guided ? ThreadPool::GuidedChunkStart(chunk, plan.row_tasks, static_cast<size_t>(plan.num_threads), active)
                      : chunk * active / plan.row_tasks;
      return a0 + (p.depthwise ? offset / kDepthwisePixelBlock * kDepthwisePixelBlock : offset);
    };
    const size_t first = chunk_start(row_task);
    const size_t count = chunk_start(row_task + 1) - first;
    // The masked pixels of this task's region of the image (from its first
    // active pixel to the next task's), in its channels: every task writes
    // one region, so consecutive ops find a region's rows on the core that
    // wrote them (masked pixels in tasks of their own, split alike across
    // the threads, had each thread write all over the image: MobileNetV2
    // with every conv masked, s=0.3, 2 threads, 9% slower).
    // Computing every pixel (computes_all_), each pass overwrites its masked
    // ones instead (OverwriteMasked).
    if (plan.masked_tasks == 0 && !skip_masked_ && !computes_all_) {
      const uint32_t* masked_begin = masked_pixels_.data() + m0;
      const uint32_t* masked_end = masked_pixels_.data() + m1;
      const size_t mf = row_task == 0 ? m0
                                       : std::lower_bound(masked_begin, masked_end, active_pixels_[first]) -
                                             masked_pixels_.data();
      const size_t me = row_task + 1 == plan.row_tasks
                            ? m1
                            : std::lower_bound(masked_begin, masked_end, active_pixels_[first + count]) -
                                  masked_pixels_.data();
      if (mf < me) {
        const size_t c_begin = p.depthwise ? 0 : unit_channel(ChunkStart(channel_task, plan.channel_tasks, units));
        const size_t c_end = p.depthwise ? cout : unit_channel(ChunkStart(channel_task + 1, plan.channel_tasks, units));
        FillMasked(residual, n, image_out, mf, me, c_begin, c_end - c_begin, rows);
      }
    }
    const uint32_t* pixels = active_pixels_.data() + first;
    const size_t* offsets = active_offsets_.data() + first;
    const float* const* indirection = direct ? nullptr : indirection_.data() + (n * all_active + first) * taps;
    kernels::RowsArgs args;
    args.rows = count;
    args.outputs = rows;
    args.out_min = p.output_min;
    args.out_max = p.output_max;
    args.indirection_stride = taps;
    if (p.depthwise) {
      point_rows(image_out, offsets, count, rows);
      args.conv_bias = conv_bias_.data();
      args.add_bias = add_bias_.data();
      args.taps = taps;
      args.indirection = indirection;
      args.packed_weights = packed_weights_.data();
      args.store_op = store_op;
      depthwise_rows_(args, p.input_channels, p.depth_multiplier);
      if (!stage_in_kernel) FinishRows(residual, n, count, rows, pixels, 0, cout);
      return;
    }
    args.weights_tile_stride = tile_stride;
    // This task's channel tiles, as passes: runs of consecutive tiles of one
    // group, at most tiles_per_pass at a time. Each pass points `rows` at its
    // first channel, computes them (compute_pass) and applies the fused
    // stage; a direct conv's pass does so per segment of its rows
    // (compute_pass then gets the segment: first pixel, count, input, output).
    const size_t unit_end = ChunkStart(channel_task + 1, plan.channel_tasks, units);
    auto for_each_pass = [&](auto&& compute_pass) {
      for (size_t unit = ChunkStart(channel_task, plan.channel_tasks, units); unit < unit_end;) {
        TilePass pass;
        pass.unit = unit;
        pass.group = unit / group_tiles_;
        pass.tile0 = unit % group_tiles_;
        pass.tile_end = std::min({group_tiles_, pass.tile0 + (unit_end - unit), pass.tile0 + plan.tiles_per_pass});
        pass.c0 = pass.group * group_cout + pass.tile0 * kernels::kConvTile;
        pass.width = std::min(pass.tile_end * kernels::kConvTile, group_cout) - pass.tile0 * kernels::kConvTile;
        if (direct) {
          for_each_direct_segment(n, first, first + count, [&](size_t s0, size_t s_count, const float* in, float* out) {
            compute_pass(pass, s0 == first, s_count, in, out);
            if (computes_all_) OverwriteMasked(image_out, s0, s0 + s_count, pass.c0, pass.width);
            finish_direct(n, out, s0, s_count, pass.c0, pass.width);
          });
        } else {
          point_rows(image_out + pass.c0, offsets, count, rows);
          compute_pass(pass, true, count, nullptr, nullptr);
          if (computes_all_) OverwriteMasked(image_out, pixels[0], pixels[count - 1] + 1, pass.c0, pass.width);
          if (!stage_in_kernel) FinishRows(residual, n, count, rows, pixels, pass.c0, pass.width);
        }
        unit += pass.tile_end - pass.tile0;
      }
    };
    if (uses_igemm()) {
      kernels::IgemmArgs a;
      a.indirection_stride = taps;
      a.lo = p.output_min;
      a.hi = p.output_max;
      // One call per pass (direct: per segment) and reduction block: the
      // kernel steps through the rows. ReadsPixelsDirectly: rows by
      // arithmetic from the segment's first pixel (its output at the pass's
      // first channel).
      const float* first_input = nullptr;
      float* first_output = nullptr;
      if (direct) {
        a.indirection = &first_input;
        a.outputs = &first_output;
        a.direct_input_stride = p.input_channels;
        a.direct_output_stride = cout;
      }
      for_each_pass([&](const TilePass& pass, bool first_segment, size_t segment_rows, const float* segment_input,
                        float* segment_output) {
        const size_t group = pass.group, tile0 = pass.tile0, tile_end = pass.tile_end, unit = pass.unit;
        a.rows = segment_rows;
        a.channels = pass.width;
        if (direct) {
          first_input = segment_input;
          first_output = segment_output + pass.c0;
        }
        // Reduction blocks in (tap, channel) order, the order of one
        // unblocked call: each adds to the sums the previous one left.
        // Each call asks for the next one's weights, into L2 while it
        // computes (the kernel spreads them over its row blocks): the next
        // block of this pass's tiles, after the last block the next pass's
        // first block. Each lies in one range (igemm_weights_). Only a call
        // of several row blocks asks: one block (a fully connected layer, a
        // squeeze-excitation's 1x1 convs: one row) reads each weight once,
        // at the speed of memory, and the next call's lines only compete
        // with its own (AVX2, Zen 3, one process: those layers 15-25%
        // faster without, MobileNetV3-Large 2-4%; MobileNetV2's 7x7 convs,
        // 49 rows, 2% slower without).
        const bool prefetch_next = segment_rows > igemm_.block_rows;
        const size_t next_tiles = std::min(tile_end - tile0, unit_end - (unit + tile_end - tile0));
        const bool next_pass = tile_end < group_tiles_ && next_tiles > 0;
        for (size_t b = 0; b < igemm_blocks_.size(); ++b) {
          const ReductionBlock& block = igemm_blocks_[b];
          a.taps = block.taps;
          a.tap_channels = block.channels;
          a.input_offset = group * cin + block.channel;
          a.tile_stride = block.tile_stride();
          a.packed = igemm_weights_.data() + IgemmTileOffset(group, block, tile0);
          a.reduction_offset = 0;
          a.accumulate = b > 0;
          a.finish = b + 1 == igemm_blocks_.size();
          a.store_op = store_op;
          if (!direct) {
            a.indirection = indirection + block.tap;
            a.outputs = rows;
          }
          a.prefetch_lines = 0;
          if (first_segment && prefetch_next) {
            const bool next_block = !a.finish;
            const ReductionBlock& next = igemm_blocks_[next_block ? b + 1 : 0];
            const size_t next_tile0 = next_block ? tile0 : tile_end;
            const size_t tiles_ahead = next_block ? tile_end - tile0 : (next_pass ? next_tiles : 0);
            a.prefetch = igemm_weights_.data() + IgemmTileOffset(group, next, next_tile0);
            a.prefetch_lines = tiles_ahead * next.tile_stride() / kernels::kIgemmTile;
          }
          igemm_.fn(a);
        }
      });
      return;
    }
    const size_t rows_per_call = blocking_.rows_per_call ? blocking_.rows_per_call : count;
    for_each_pass([&](const TilePass& pass, bool, size_t, const float*, float*) {
      const size_t group = pass.group, tile0 = pass.tile0, c0 = pass.c0, width = pass.width;
      args.conv_bias = conv_bias_.data() + c0;
      args.add_bias = add_bias_.data() + c0;
      // Reduction blocks in (tap, channel) order, the order of one unblocked
      // call: each adds to the sums the previous one left in the output rows.
      const float* tile_weights = packed_weights_.data() + group * group_weights_ + tile0 * tile_stride;
      const size_t group_input = group * cin;
      for (size_t tap = 0; tap < taps; tap += plan.taps_per_block) {
        args.taps = std::min(plan.taps_per_block, taps - tap);
        for (size_t c = 0; c < cin; c += plan.channels_per_block) {
          const size_t block = std::min(plan.channels_per_block, cin - c);
          args.input_offset = group_input + c;
          args.packed_weights = tile_weights + (tap * cin + c) * kernels::kConvTile;
          args.accumulate = tap > 0 || c > 0;
          args.finish = tap + args.taps == taps && c + block == cin;
          for (size_t r0 = 0; r0 < count; r0 += rows_per_call) {
            args.rows = std::min(rows_per_call, count - r0);
            args.outputs = rows + r0;
            args.indirection = indirection + r0 * taps + tap;
            conv_rows_(args, block, width);
          }
        }
      }
    });
  };
  const size_t total = static_cast<size_t>(p.batch) * tasks_per_image;
  if (pool != nullptr) {
    pool->ParallelFor(total, task);
  } else {
    for (size_t i = 0; i < total; ++i) task(i);
  }
}

}  // namespace actsparse
