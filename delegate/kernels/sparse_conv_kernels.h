// Micro-kernels of the sparse convolution: pure functions over pointers.
// They know nothing of TFLite, masks or threads; the operator hands them a
// block of output pixels (rows) with, per pixel, one input pointer per kernel
// tap (the indirection buffer; padding taps point at a zero row).
//
// Numerics mirror the chain CONV_2D(+conv_bias) -> MUL(1.0) -> ADD(add_bias):
// acc = sum over taps and input channels; out = clamp((acc + conv_bias) + add_bias).
#ifndef ACTSPARSE_DELEGATE_KERNELS_SPARSE_CONV_KERNELS_H_
#define ACTSPARSE_DELEGATE_KERNELS_SPARSE_CONV_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace actsparse {
namespace kernels {

constexpr size_t kConvTile = 16;  // output channels per packed weight tile (see below)

// What a conv kernel applies to each output after its clamp, as it stores
// it: a fused activation moved into the kernel (ApplyStoreOp, tile_util.h:
// the elementwise kernels' operations in their order, so the bits are those
// of the stage pass it replaces, whose default clamp clamps nothing).
enum class StoreOp : uint8_t { kNone, kHardSwish, kSilu };

struct RowsArgs {
  size_t rows;                      // output pixels in this block
  size_t taps;                      // kernel_h * kernel_w
  const float* const* indirection;  // rows * taps input pointers (row-major by pixel)
  float* const* outputs;            // rows output pointers, each to out_channels floats
  const float* packed_weights;      // see each kernel
  const float* conv_bias;           // out_channels (zeros if the conv had none)
  const float* add_bias;            // out_channels (zeros if the chain has no ADD)
  float out_min;                    // fused activation as a clamp
  float out_max;
  // Regular conv only: blocking over the reduction (taps). A call may cover
  // `taps` consecutive taps of a conv with more; the operator then calls once
  // per block, in tap order, so sums accumulate in the same order as one call.
  size_t indirection_stride = 0;   // pointers from one row to the next (0 = taps)
  size_t weights_tile_stride = 0;  // floats from one channel tile to the next (0 = taps * in_channels * kConvTile)
  bool accumulate = false;         // outputs hold the partial sums of earlier taps: add to them
  bool finish = true;              // add biases and clamp; otherwise store the raw partial sums
  // Regular conv only: floats added to every indirection pointer, so a call can
  // cover a block of input channels (its `in_channels` argument is the block's width).
  size_t input_offset = 0;
  StoreOp store_op = StoreOp::kNone;  // depthwise only (see StoreOp)
};

inline size_t RowStride(const RowsArgs& args) {
  return args.indirection_stride != 0 ? args.indirection_stride : args.taps;
}
inline size_t WeightsTileStride(const RowsArgs& args, size_t in_channels) {
  return args.weights_tile_stride != 0 ? args.weights_tile_stride
                                       : args.taps * in_channels * kConvTile;
}

// Regular conv weights are packed in tiles of kConvTile output channels:
// packed[tile][taps * in_channels][kConvTile], the last tile zero-padded, so a
// kernel streams one tile's weights contiguously. PackConvWeights does it from OHWI.
size_t PackedConvWeightsSize(size_t taps, size_t in_channels, size_t out_channels);
void PackConvWeights(const float* ohwi, size_t taps, size_t in_channels, size_t out_channels,
                     float* packed);

// Regular conv over tile-packed weights.
using ConvRowsFn = void (*)(const RowsArgs& args, size_t in_channels, size_t out_channels);
void ConvRowsScalar(const RowsArgs& args, size_t in_channels, size_t out_channels);
#if defined(__aarch64__)
// NEON, 4 rows x 16 channels register blocking.
void ConvRowsNeon(const RowsArgs& args, size_t in_channels, size_t out_channels);
#endif
#if defined(__x86_64__)
// AVX2 + FMA, up to 6 rows x 16 channels register blocking. Call only where
// CpuHasAvx2Fma() is true (compiled with -mavx2 -mfma).
void ConvRowsAvx2(const RowsArgs& args, size_t in_channels, size_t out_channels);
#endif

// Whether the CPU running us has AVX2 and FMA (false off x86-64).
bool CpuHasAvx2Fma();
// Whether it has AVX512F (and AVX2 + FMA).
bool CpuHasAvx512();
// The fastest conv micro-kernel this CPU runs; ACTSPARSE_KERNELS=scalar forces the scalar one.
ConvRowsFn SelectConvRows(const char** name);

// Depthwise conv with depth multiplier m (out_channels = in_channels * m).
// packed_weights: [taps][out_channels]; output channel c reads input channel c / m.
using DepthwiseRowsFn = void (*)(const RowsArgs& args, size_t in_channels, size_t multiplier);
void DepthwiseRowsScalar(const RowsArgs& args, size_t in_channels, size_t multiplier);
#if defined(__aarch64__)
// NEON, 4 pixels x 8 channels per step (multiplier 1; other multipliers use the scalar code).
void DepthwiseRowsNeon(const RowsArgs& args, size_t in_channels, size_t multiplier);
#endif
#if defined(__x86_64__)
// AVX2 + FMA, 4 pixels x 16 channels per step (multiplier 1; other multipliers use the scalar code).
void DepthwiseRowsAvx2(const RowsArgs& args, size_t in_channels, size_t multiplier);
// AVX-512, 4 pixels x 32 channels per step (multiplier 1; others scalar). Only where CpuHasAvx512().
void DepthwiseRowsAvx512(const RowsArgs& args, size_t in_channels, size_t multiplier);
#endif
DepthwiseRowsFn SelectDepthwiseRows(const char** name);

// ---- depthwise by image rows: a dense depthwise conv of stride 1 or 2 ----
// Multiplier 1, dilation 1, the same stride across and down, every output
// pixel computed: whole output rows from whole input rows, addressed by
// arithmetic (no indirection), each input vector loaded once per kernel row
// and used for every kernel column (and, at stride 2, both output pixels)
// that reads it, from registers. Sums in the order of the same ISA's
// DepthwiseRows kernel (AVX-512 and scalar: from the conv bias, tap by tap,
// then the add bias; NEON: from zero, tap by tap, then both biases; a
// padding tap adds nothing), then the clamp.
struct DepthwiseImageRowsArgs {
  size_t rows = 0;                          // output rows
  size_t stride = 1;                        // 1 or 2, across and down
  // (rows - 1) * stride + kernel_height input rows, each input_width *
  // channels floats: output row r reads input_rows[r * stride .. r * stride +
  // kernel_height - 1]; null: a padding row (zeros).
  const float* const* input_rows = nullptr;
  float* const* output_rows = nullptr;      // rows pointers, output_width * channels floats each
  size_t channels = 0, input_width = 0, output_width = 0;
  size_t kernel_height = 0, kernel_width = 0;
  size_t pad_left = 0;                      // output x, kernel column kx read input column stride * x + kx - pad_left
  const float* weights = nullptr;           // [kernel_height][kernel_width][channels]
  const float* conv_bias = nullptr;         // channels
  const float* add_bias = nullptr;          // channels
  float out_min = -3.402823466e+38f, out_max = 3.402823466e+38f;
  StoreOp store_op = StoreOp::kNone;        // see StoreOp
};
using DepthwiseImageRowsFn = void (*)(const DepthwiseImageRowsArgs& args);
void DepthwiseImageRowsScalar(const DepthwiseImageRowsArgs& args);
#if defined(__x86_64__)
// AVX-512, 8 output pixels x 16 channels per step.
void DepthwiseImageRowsAvx512(const DepthwiseImageRowsArgs& args);
// AVX2, 3-6 output pixels x 8 channels per step.
void DepthwiseImageRowsAvx2(const DepthwiseImageRowsArgs& args);
#endif
#if defined(__aarch64__)
// NEON, 8 output pixels x 4 channels per step.
void DepthwiseImageRowsNeon(const DepthwiseImageRowsArgs& args);
#endif
// The kernels take kernel widths 3 and 5 (MobileNets' 3x3 and 5x5), any
// height, strides 1 and 2.
inline bool DepthwiseImageRowsTakes(size_t kernel_width, size_t stride) {
  return (kernel_width == 3 || kernel_width == 5) && (stride == 1 || stride == 2);
}
// The kernel for this CPU, or null where there is none (the operator then
// takes DepthwiseRows): AVX-512, AVX2 and NEON.
DepthwiseImageRowsFn SelectDepthwiseImageRows(const char** name);
// The narrowest output rows the selected kernel is worth taking for. AVX2
// (16 registers: 3-6 pixels x 8 channels per step) against its pointer
// kernel, warm, one thread, Zen 3: MobileNetV2's 112-, 56- and 28-wide
// layers 1.28 / 1.10 / 1.05x, the 14- and 7-wide ones 0.94 / 0.79x; 1
// elsewhere. (On Zen 5 an earlier AVX2 version, 4 pixels x 8 channels, ran
// at 52-56 GFLOP/s against the pointer kernel's 55-64.)
size_t DepthwiseImageRowsMinWidth();

// ---- igemm: the regular conv in XNNPACK's structure ----
// One call computes up to the kernel's row count of output pixels for every
// output channel of the call (tile after tile inside the call), over the full
// reduction: no partial sums leave the registers, and the bias is packed in
// front of each tile's weights, so a call has almost no fixed cost (which
// matters for 1x1 convs with a short reduction).
constexpr size_t kIgemmTile = 16;  // output channels per packed tile
static_assert(kIgemmTile == kConvTile, "PackIgemmTileFromConvTile copies conv tiles' rows");

struct IgemmArgs {
  // Any count: every kernel steps through them in balanced blocks of its
  // register height (IgemmKernel::block_rows), sharing the prefetch lines
  // among the blocks, so a pass of a task is one call.
  size_t rows = 0;
  size_t channels = 0;                        // output channels; the last tile may be partial
  size_t taps = 1;                            // reduction = taps x tap_channels
  size_t tap_channels = 0;
  const float* const* indirection = nullptr;  // rows x indirection_stride input pointers (row-major)
  size_t indirection_stride = 0;              // pointers from one row to the next (0: taps)
  size_t input_offset = 0;                    // floats added to every pointer (a group's slice)
  const float* packed = nullptr;              // tiles of [16 bias][reduction][16], at the first tile
  size_t tile_stride = 0;                     // floats from one tile to the next (0: packed contiguously)
  size_t reduction_offset = 0;                // reduction steps of each tile before this call's
  float* const* outputs = nullptr;            // rows pointers, at the call's first channel
  float lo = -3.402823466e+38f;               // fused activation as a clamp
  float hi = 3.402823466e+38f;
  // A reduction split in blocks (weights too big for the caches): a call
  // after the first adds to the partial sums in the outputs instead of the
  // bias, and a call before the last stores raw sums, not clamped ones.
  bool accumulate = false;
  bool finish = true;
  StoreOp store_op = StoreOp::kNone;  // applied by the finishing call (see StoreOp)
  // Weights the next call will stream (a ResNet's come from DRAM): the
  // kernel asks for `prefetch_lines` cache lines from here into L2, one per
  // reduction step, so they arrive while this call computes.
  const float* prefetch = nullptr;
  size_t prefetch_lines = 0;
  // Rows by arithmetic (a dense 1x1 conv between dense tensors: one tap):
  // when nonzero, indirection[0] is the first row's input and outputs[0] its
  // output, row r's are r times these strides (floats) further. Saves the
  // caller two pointer arrays.
  size_t direct_input_stride = 0;
  size_t direct_output_stride = 0;
};

// Floats of one packed tile, and of a whole layer's packed weights.
inline size_t IgemmTileFloats(size_t taps, size_t tap_channels) {
  return kIgemmTile * (1 + taps * tap_channels);
}
size_t PackedIgemmWeightsSize(size_t taps, size_t tap_channels, size_t out_channels);
// Packs OHWI weights (`taps * tap_channels` per output channel, in the
// kernels' reduction order) and `bias` (null: zeros) into tiles; the last
// tile is zero-padded.
void PackIgemmWeights(const float* ohwi, const float* bias, size_t taps, size_t tap_channels,
                      size_t out_channels, float* packed);
// One igemm tile for steps [first, first + count) of the reduction (a block
// of it: a call with reduction_offset 0 reads them), from a tile of
// PackConvWeights for the same 16 output channels ([reduction][16]), led by
// `bias16` (16 floats).
void PackIgemmTileFromConvTile(const float* conv_tile, const float* bias16, size_t first, size_t count,
                               float* igemm_tile);

// Register block height (rows per block) of each igemm kernel.
constexpr size_t kIgemmRowsScalar = 4;
constexpr size_t kIgemmRowsNeon = 4;
constexpr size_t kIgemmRowsAvx2 = 6;
constexpr size_t kIgemmRowsAvx512 = 10;

using IgemmFn = void (*)(const IgemmArgs& args);
void IgemmScalar(const IgemmArgs& args);
#if defined(__aarch64__)
void IgemmNeon(const IgemmArgs& args);
#endif
#if defined(__x86_64__)
void IgemmAvx2(const IgemmArgs& args);    // only where CpuHasAvx2Fma()
void IgemmAvx512(const IgemmArgs& args);  // only where CpuHasAvx512()
#endif

struct IgemmKernel {
  IgemmFn fn;
  const char* name;     // "avx512", "avx2", "neon", "scalar"
  size_t block_rows;      // register block height (rows computed together)
  size_t tiles_per_step;  // 16-channel tiles computed together (AVX-512: 2); split channels in multiples
  // Longest reduction the conv operator gives this kernel; longer ones go to
  // the tap-blocked ConvRows kernel (faster for them with AVX2, measured on
  // ResNet-18's layer3/4; AVX-512 has no ConvRows kernel of its own).
  size_t max_reduction;
  // The same for a conv of several taps (3x3, ...). AVX2 on Zen 3: ResNet-18
  // 2% faster with its 3x3 convs of 64 and 128 channels through ConvRows
  // too, at 1 and 2 threads (one process, interleaved, either order); the
  // MobileNets' long 1x1 reductions were not (-1% to +2%).
  size_t max_multi_tap_reduction;
};
// The fastest igemm this CPU runs. ACTSPARSE_KERNELS=scalar|avx2 caps the ISA.
IgemmKernel SelectIgemm();

}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_SPARSE_CONV_KERNELS_H_
