// NEON micro-kernels (AArch64, where NEON is always present): conv with a
// 4 rows x 16 channels register tile (16 accumulators), depthwise 4 pixels x
// 8 channels per step. Exactness-tested under qemu; no ARM timing is claimed.
#include <arm_neon.h>

#include <algorithm>

#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/kernels/tile_util.h"

namespace actsparse {
namespace kernels {
namespace {

constexpr size_t kRows = 4;

// Stores a row's sums: through biases and the clamp on the last tap block,
// raw otherwise. Only `width` channels are written.
inline void StoreTile(const RowsArgs& args, const float32x4_t acc[4], const float* cb, const float* ab,
                      float32x4_t lo, float32x4_t hi, float* out, size_t width) {
  alignas(16) float tmp[kConvTile];
  for (int k = 0; k < 4; ++k) {
    float32x4_t v = acc[k];
    if (args.finish) {
      v = vaddq_f32(vaddq_f32(v, vld1q_f32(cb + 4 * k)), vld1q_f32(ab + 4 * k));
      v = vminq_f32(vmaxq_f32(v, lo), hi);
    }
    vst1q_f32(tmp + 4 * k, v);
  }
  std::copy(tmp, tmp + width, out);
}

}  // namespace

void ConvRowsNeon(const RowsArgs& args, size_t in_channels, size_t out_channels) {
  const size_t row_stride = RowStride(args);
  const size_t tile_stride = WeightsTileStride(args, in_channels);
  const float32x4_t lo = vdupq_n_f32(args.out_min);
  const float32x4_t hi = vdupq_n_f32(args.out_max);
  TileBias bias;
  for (size_t c0 = 0; c0 < out_channels; c0 += kConvTile) {
    const size_t width = std::min(kConvTile, out_channels - c0);
    bias.Load(args, c0, width);
    const float* tile = args.packed_weights + (c0 / kConvTile) * tile_stride;
    for (size_t r0 = 0; r0 < args.rows; r0 += kRows) {
      const size_t rows = std::min(kRows, args.rows - r0);
      const float* const* ind = args.indirection + r0 * row_stride;
      float32x4_t acc[kRows][4];
      for (size_t r = 0; r < kRows; ++r) {
        alignas(16) float tmp[kConvTile] = {};
        if (args.accumulate && r < rows) {
          const float* partial = args.outputs[r0 + r] + c0;
          std::copy(partial, partial + width, tmp);
        }
        for (int k = 0; k < 4; ++k) acc[r][k] = vld1q_f32(tmp + 4 * k);
      }
      const float* w = tile;
      for (size_t t = 0; t < args.taps; ++t) {
        const float* in[kRows];
        for (size_t r = 0; r < kRows; ++r) {
          in[r] = (r < rows ? ind[r * row_stride + t] : ind[t]) + args.input_offset;
        }
        for (size_t ci = 0; ci < in_channels; ++ci, w += kConvTile) {
          const float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4);
          const float32x4_t w2 = vld1q_f32(w + 8), w3 = vld1q_f32(w + 12);
          for (size_t r = 0; r < kRows; ++r) {
            const float x = in[r][ci];
            acc[r][0] = vfmaq_n_f32(acc[r][0], w0, x);
            acc[r][1] = vfmaq_n_f32(acc[r][1], w1, x);
            acc[r][2] = vfmaq_n_f32(acc[r][2], w2, x);
            acc[r][3] = vfmaq_n_f32(acc[r][3], w3, x);
          }
        }
      }
      for (size_t r = 0; r < rows; ++r) {
        StoreTile(args, acc[r], bias.conv, bias.add, lo, hi, args.outputs[r0 + r] + c0, width);
      }
    }
  }
}

namespace {

inline void DepthwiseStore(const float* conv_bias, const float* add_bias, float32x4_t acc, size_t c,
                           float32x4_t lo, float32x4_t hi, float* out) {
  acc = vaddq_f32(vaddq_f32(acc, vld1q_f32(conv_bias + c)), vld1q_f32(add_bias + c));
  vst1q_f32(out + c, vminq_f32(vmaxq_f32(acc, lo), hi));
}

// P output rows (pixels) at once, 8 channels per step: each weight vector
// loaded serves P pixels (a depthwise conv is bound by loads, and cores like
// the Pi 4's Cortex-A72 issue one load per cycle), as in the AVX2 kernel.
// Not inlined, as in the AVX2 kernel, where folding all four instantiations
// into the row loop cost the 4-pixel hot loop its registers (20% slower).
template <size_t P>
[[gnu::noinline]] void DepthwiseBlock(const RowsArgs& args, size_t row, size_t channels, float32x4_t lo, float32x4_t hi) {
  const size_t stride = RowStride(args), taps = args.taps;
  const float* const* ind = args.indirection + row * stride;
  float* out[P];
  for (size_t p = 0; p < P; ++p) out[p] = args.outputs[row + p];
  size_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    float32x4_t acc[P][2];
    for (size_t p = 0; p < P; ++p) acc[p][0] = acc[p][1] = vdupq_n_f32(0.0f);
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4);
      for (size_t p = 0; p < P; ++p) {
        const float* in = ind[p * stride + t] + c;
        acc[p][0] = vfmaq_f32(acc[p][0], vld1q_f32(in), w0);
        acc[p][1] = vfmaq_f32(acc[p][1], vld1q_f32(in + 4), w1);
      }
    }
    for (size_t p = 0; p < P; ++p) {
      DepthwiseStore(args.conv_bias, args.add_bias, acc[p][0], c, lo, hi, out[p]);
      DepthwiseStore(args.conv_bias, args.add_bias, acc[p][1], c + 4, lo, hi, out[p]);
    }
  }
  for (; c + 4 <= channels; c += 4) {
    float32x4_t acc[P];
    for (size_t p = 0; p < P; ++p) acc[p] = vdupq_n_f32(0.0f);
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const float32x4_t w0 = vld1q_f32(w);
      for (size_t p = 0; p < P; ++p) acc[p] = vfmaq_f32(acc[p], vld1q_f32(ind[p * stride + t] + c), w0);
    }
    for (size_t p = 0; p < P; ++p) DepthwiseStore(args.conv_bias, args.add_bias, acc[p], c, lo, hi, out[p]);
  }
  for (; c < channels; ++c) {
    for (size_t p = 0; p < P; ++p) out[p][c] = DepthwiseChannel(args, ind + p * stride, channels, c);
  }
}

}  // namespace

void DepthwiseRowsNeon(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  if (multiplier != 1) {
    DepthwiseRowsScalar(args, in_channels, multiplier);
    return;
  }
  const float32x4_t lo = vdupq_n_f32(args.out_min);
  const float32x4_t hi = vdupq_n_f32(args.out_max);
  ForEachDepthwiseBlock(args.rows, [&](auto pixels, size_t row) {
    DepthwiseBlock<decltype(pixels)::value>(args, row, in_channels, lo, hi);
  });
}

}  // namespace kernels
}  // namespace actsparse
