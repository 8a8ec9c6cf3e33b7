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

namespace actsparse {
namespace kernels {

constexpr size_t kConvTile = 16;  // output channels per packed weight tile (see below)

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
#endif
DepthwiseRowsFn SelectDepthwiseRows(const char** name);

// Masked pixels: copies `value` (out_channels floats) to each output row.
void FillRows(size_t rows, float* const* outputs, const float* value, size_t out_channels);

}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_SPARSE_CONV_KERNELS_H_
