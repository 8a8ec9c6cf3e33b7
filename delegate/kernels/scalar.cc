// Portable scalar micro-kernels: the reference the SIMD kernels are tested
// against, and the fallback on CPUs without them.
#include <algorithm>
#include <cstring>
#include <vector>

#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/kernels/tile_util.h"

namespace actsparse {
namespace kernels {

size_t PackedConvWeightsSize(size_t taps, size_t in_channels, size_t out_channels) {
  const size_t tiles = (out_channels + kConvTile - 1) / kConvTile;
  return tiles * taps * in_channels * kConvTile;
}

void PackConvWeights(const float* ohwi, size_t taps, size_t in_channels, size_t out_channels,
                     float* packed) {
  const size_t k_total = taps * in_channels;
  const size_t tiles = (out_channels + kConvTile - 1) / kConvTile;
  std::memset(packed, 0, tiles * k_total * kConvTile * sizeof(float));
  for (size_t co = 0; co < out_channels; ++co) {
    float* tile = packed + (co / kConvTile) * k_total * kConvTile + co % kConvTile;
    // OHWI: for output channel co, the taps*in_channels weights are contiguous
    // in (tap, input channel) order, the order the kernels accumulate in.
    for (size_t k = 0; k < k_total; ++k) tile[k * kConvTile] = ohwi[co * k_total + k];
  }
}

void ConvRowsScalar(const RowsArgs& args, size_t in_channels, size_t out_channels) {
  const size_t row_stride = RowStride(args);
  const size_t tile_stride = WeightsTileStride(args, in_channels);
  float acc[kConvTile];
  for (size_t r = 0; r < args.rows; ++r) {
    const float* const* taps = args.indirection + r * row_stride;
    for (size_t c0 = 0; c0 < out_channels; c0 += kConvTile) {
      const size_t width = std::min(kConvTile, out_channels - c0);
      const float* w = args.packed_weights + (c0 / kConvTile) * tile_stride;
      float* out = args.outputs[r] + c0;
      std::fill(acc, acc + kConvTile, 0.0f);
      if (args.accumulate) std::copy(out, out + width, acc);
      for (size_t t = 0; t < args.taps; ++t) {
        const float* in = taps[t] + args.input_offset;
        for (size_t ci = 0; ci < in_channels; ++ci, w += kConvTile) {
          const float x = in[ci];
          for (size_t j = 0; j < kConvTile; ++j) acc[j] += x * w[j];
        }
      }
      for (size_t j = 0; j < width; ++j) {
        if (!args.finish) {
          out[j] = acc[j];
          continue;
        }
        const float v = (acc[j] + args.conv_bias[c0 + j]) + args.add_bias[c0 + j];
        out[j] = std::min(std::max(v, args.out_min), args.out_max);
      }
    }
  }
}

void DepthwiseRowsScalar(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  const size_t out_channels = in_channels * multiplier;
  std::vector<float> acc(out_channels);
  for (size_t r = 0; r < args.rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const float* const* taps = args.indirection + r * RowStride(args);
    for (size_t t = 0; t < args.taps; ++t) {
      const float* in = taps[t];
      const float* w = args.packed_weights + t * out_channels;
      for (size_t c = 0; c < out_channels; ++c) acc[c] += in[c / multiplier] * w[c];
    }
    float* out = args.outputs[r];
    for (size_t c = 0; c < out_channels; ++c) {
      const float v = std::min(std::max((acc[c] + args.conv_bias[c]) + args.add_bias[c], args.out_min), args.out_max);
      out[c] = ApplyStoreOp<ScalarVec>(v, args.store_op);
    }
  }
}

void DepthwiseImageRowsScalar(const DepthwiseImageRowsArgs& args) {
  const size_t channels = args.channels;
  std::vector<float> acc(channels);
  for (size_t r = 0; r < args.rows; ++r) {
    for (size_t x = 0; x < args.output_width; ++x) {
      std::copy(args.conv_bias, args.conv_bias + channels, acc.begin());
      for (size_t ky = 0; ky < args.kernel_height; ++ky) {
        const float* row = args.input_rows[r * args.stride + ky];
        if (row == nullptr) continue;
        for (size_t kx = 0; kx < args.kernel_width; ++kx) {
          const size_t ix = args.stride * x + kx;  // + pad_left: unsigned, so compare before subtracting
          if (ix < args.pad_left || ix - args.pad_left >= args.input_width) continue;
          const float* in = row + (ix - args.pad_left) * channels;
          const float* w = args.weights + (ky * args.kernel_width + kx) * channels;
          for (size_t c = 0; c < channels; ++c) acc[c] += in[c] * w[c];
        }
      }
      float* out = args.output_rows[r] + x * channels;
      for (size_t c = 0; c < channels; ++c) {
        const float v = std::min(std::max(acc[c] + args.add_bias[c], args.out_min), args.out_max);
        out[c] = ApplyStoreOp<ScalarVec>(v, args.store_op);
      }
    }
  }
}

size_t PackedIgemmWeightsSize(size_t taps, size_t tap_channels, size_t out_channels) {
  return (out_channels + kIgemmTile - 1) / kIgemmTile * IgemmTileFloats(taps, tap_channels);
}

void PackIgemmWeights(const float* ohwi, const float* bias, size_t taps, size_t tap_channels,
                      size_t out_channels, float* packed) {
  const size_t k_total = taps * tap_channels;
  const size_t tile_floats = IgemmTileFloats(taps, tap_channels);
  std::memset(packed, 0, PackedIgemmWeightsSize(taps, tap_channels, out_channels) * sizeof(float));
  for (size_t co = 0; co < out_channels; ++co) {
    float* tile = packed + (co / kIgemmTile) * tile_floats + co % kIgemmTile;
    tile[0] = bias ? bias[co] : 0.0f;
    for (size_t k = 0; k < k_total; ++k) tile[(k + 1) * kIgemmTile] = ohwi[co * k_total + k];
  }
}

void PackIgemmTileFromConvTile(const float* conv_tile, const float* bias16, size_t first, size_t count,
                               float* igemm_tile) {
  std::copy(bias16, bias16 + kIgemmTile, igemm_tile);
  std::copy(conv_tile + first * kConvTile, conv_tile + (first + count) * kConvTile, igemm_tile + kIgemmTile);
}

namespace {

// Any rows through pointers: the reference the SIMD kernels are tested against.
void IgemmPointerRows(const IgemmArgs& args) {
  const size_t row_stride = args.indirection_stride ? args.indirection_stride : args.taps;
  const size_t tile_stride = args.tile_stride ? args.tile_stride : IgemmTileFloats(args.taps, args.tap_channels);
  const float* tile = args.packed;
  for (size_t c0 = 0; c0 < args.channels; c0 += kIgemmTile, tile += tile_stride) {
    const size_t width = std::min(kIgemmTile, args.channels - c0);
    for (size_t r = 0; r < args.rows; ++r) {
      float acc[kIgemmTile] = {};
      if (args.accumulate) {
        std::copy(args.outputs[r] + c0, args.outputs[r] + c0 + width, acc);
      } else {
        std::copy(tile, tile + kIgemmTile, acc);
      }
      const float* w = tile + kIgemmTile * (1 + args.reduction_offset);
      for (size_t t = 0; t < args.taps; ++t) {
        const float* in = args.indirection[r * row_stride + t] + args.input_offset;
        for (size_t k = 0; k < args.tap_channels; ++k, w += kIgemmTile) {
          for (size_t j = 0; j < kIgemmTile; ++j) acc[j] += in[k] * w[j];
        }
      }
      for (size_t j = 0; j < width; ++j) {
        args.outputs[r][c0 + j] =
            args.finish ? ApplyStoreOp<ScalarVec>(std::min(std::max(acc[j], args.lo), args.hi), args.store_op) : acc[j];
      }
    }
  }
}

}  // namespace

void IgemmScalar(const IgemmArgs& args) {
  IgemmInBlocks<kIgemmRowsScalar>(args, [](auto, const IgemmArgs& block) { IgemmPointerRows(block); });
}

}  // namespace kernels
}  // namespace actsparse
