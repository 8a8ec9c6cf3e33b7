// NEON micro-kernels (AArch64, where NEON is always present): conv with up
// to 4 rows x 16 channels per block (16 accumulators), depthwise 4 pixels x
// 8 channels per step. Exactness-tested under qemu; no ARM timing is claimed.
#include <arm_neon.h>

#include <algorithm>

#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/kernels/tile_util.h"

namespace actsparse {
namespace kernels {
namespace {

constexpr size_t kRows = 4;

// Loads a row's partial sums of channels [c0, c0 + width) (or zeros).
inline void LoadTile(const RowsArgs& args, const float* out, size_t width, float32x4_t acc[4]) {
  if (!args.accumulate) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) acc[k] = vdupq_n_f32(0.0f);
    return;
  }
  if (width == kConvTile) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) acc[k] = vld1q_f32(out + 4 * k);
    return;
  }
  alignas(16) float tmp[kConvTile] = {};
  std::copy(out, out + width, tmp);
  #pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) acc[k] = vld1q_f32(tmp + 4 * k);
}

// Stores a row's sums: through biases and the clamp on the last tap block,
// raw otherwise. Only `width` channels are written.
inline void StoreTile(const RowsArgs& args, const float32x4_t acc[4], const TileBias& bias, float32x4_t lo,
                      float32x4_t hi, float* out, size_t width) {
  float32x4_t v[4];
  #pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    v[k] = acc[k];
    if (args.finish) {
      v[k] = vaddq_f32(vaddq_f32(v[k], vld1q_f32(bias.conv + 4 * k)), vld1q_f32(bias.add + 4 * k));
      v[k] = vminq_f32(vmaxq_f32(v[k], lo), hi);
    }
  }
  if (width == kConvTile) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) vst1q_f32(out + 4 * k, v[k]);
    return;
  }
  alignas(16) float tmp[kConvTile];
  #pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) vst1q_f32(tmp + 4 * k, v[k]);
  std::copy(tmp, tmp + width, out);
}

// One input channel step: 16 weights (w) times one input value per row
// (lane L of x[r]), into 16 accumulators per row.
template <size_t R, int L>
inline void ChannelStep(const float* w, const float32x4_t x[R], float32x4_t acc[R][4]) {
  const float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4);
  const float32x4_t w2 = vld1q_f32(w + 8), w3 = vld1q_f32(w + 12);
  #pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) {
    acc[r][0] = vfmaq_laneq_f32(acc[r][0], w0, x[r], L);
    acc[r][1] = vfmaq_laneq_f32(acc[r][1], w1, x[r], L);
    acc[r][2] = vfmaq_laneq_f32(acc[r][2], w2, x[r], L);
    acc[r][3] = vfmaq_laneq_f32(acc[r][3], w3, x[r], L);
  }
}

// One block of R (1..kRows) output rows x one 16-channel tile over the call's
// taps. Input channels go four at a time: one 128-bit load per row feeds four
// steps through lane-indexed FMAs, instead of one scalar load per row and
// step (cores like the Pi 4's Cortex-A72 issue one load per cycle, and a step
// has 4 FMAs per row). Every `prefetch_every` groups it also asks for the next
// cache line from `prefetch`, its share of the weights the next tile (or tap
// block) will stream, as the AVX2 kernel does: a ResNet's weights come from
// DRAM (a Cortex-A72 has 1 MB of L2 for four cores).
template <size_t R>
inline void ConvBlock(const RowsArgs& args, const float* const* ind, size_t row_stride, float* const* out,
                      size_t c0, size_t width, const float* tile, const float* prefetch,
                      size_t prefetch_every, size_t in_channels, const TileBias& bias, float32x4_t lo,
                      float32x4_t hi) {
  float32x4_t acc[R][4];
  #pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) LoadTile(args, out[r] + c0, width, acc[r]);
  const float* w = tile;
  size_t countdown = prefetch_every;
  for (size_t t = 0; t < args.taps; ++t) {
    const float* in[R];
    #pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) in[r] = ind[r * row_stride + t] + args.input_offset;
    size_t ci = 0;
    for (; ci + 4 <= in_channels; ci += 4, w += 4 * kConvTile) {
      if (--countdown == 0) {
        // The four lines (64 bytes each) of the next tile's group, into L2.
        #pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) __builtin_prefetch(prefetch + k * kConvTile, 0, 2);
        prefetch += 4 * kConvTile;
        countdown = prefetch_every;
      }
      float32x4_t x[R];
      #pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) x[r] = vld1q_f32(in[r] + ci);
      ChannelStep<R, 0>(w, x, acc);
      ChannelStep<R, 1>(w + kConvTile, x, acc);
      ChannelStep<R, 2>(w + 2 * kConvTile, x, acc);
      ChannelStep<R, 3>(w + 3 * kConvTile, x, acc);
    }
    for (; ci < in_channels; ++ci, w += kConvTile) {
      float32x4_t x[R];
      #pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) x[r] = vld1q_dup_f32(in[r] + ci);
      ChannelStep<R, 0>(w, x, acc);
    }
  }
  #pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) StoreTile(args, acc[r], bias, lo, hi, out[r] + c0, width);
}

using ConvBlockFn = void (*)(const RowsArgs& args, const float* const* ind, size_t row_stride,
                            float* const* out, size_t c0, size_t width, const float* tile,
                            const float* prefetch, size_t prefetch_every, size_t in_channels,
                            const TileBias& bias, float32x4_t lo, float32x4_t hi);

// kConvBlocks[rows]: the block kernel for 1..kRows rows (index 0 unused).
constexpr ConvBlockFn kConvBlocks[kRows + 1] = {nullptr, ConvBlock<1>, ConvBlock<2>, ConvBlock<3>,
                                                ConvBlock<4>};

}  // namespace

void ConvRowsNeon(const RowsArgs& args, size_t in_channels, size_t out_channels) {
  const size_t row_stride = RowStride(args);
  const size_t tile_stride = WeightsTileStride(args, in_channels);
  const float32x4_t lo = vdupq_n_f32(args.out_min);
  const float32x4_t hi = vdupq_n_f32(args.out_max);
  const BalancedBlocks blocks(args.rows, kRows);
  // Groups of four input channels per block and tile; the weights of the
  // single-channel tail of each tap (at most 3 lines) are not prefetched.
  const size_t groups = args.taps * (in_channels / 4);
  TileBias bias;
  for (size_t c0 = 0; c0 < out_channels; c0 += kConvTile) {
    const size_t width = std::min(kConvTile, out_channels - c0);
    bias.Load(args, c0, width);
    const float* tile = args.packed_weights + (c0 / kConvTile) * tile_stride;
    const float* next_weights = c0 + kConvTile < out_channels
                                    ? tile + tile_stride
                                    : args.packed_weights + args.taps * in_channels * kConvTile;
    // Each block fetches its share of the next tile's weights, one group's
    // four lines every `blocks.count` groups, so the requests are spread
    // over the whole tile instead of queueing up at its start.
    for (size_t i = 0, r0 = 0; i < blocks.count; ++i) {
      const size_t n = blocks.rows(i);
      if (c0 == 0 && i + 1 < blocks.count) {
        // Output pixels are scattered rows the hardware prefetcher does not follow.
        for (size_t r = r0 + n; r < r0 + n + blocks.rows(i + 1); ++r) {
          for (size_t c = 0; c < out_channels; c += kConvTile) __builtin_prefetch(args.outputs[r] + c, 1, 3);
        }
      }
      kConvBlocks[n](args, args.indirection + r0 * row_stride, row_stride, args.outputs + r0, c0, width, tile,
                     next_weights + (i * groups / blocks.count) * 4 * kConvTile, blocks.count, in_channels, bias, lo,
                     hi);
      r0 += n;
    }
  }
}

namespace {

// Biases and clamp on 4 channels of one depthwise output pixel.
inline float32x4_t DepthwiseValue(const float* conv_bias, const float* add_bias, float32x4_t acc, size_t c,
                                  float32x4_t lo, float32x4_t hi) {
  acc = vaddq_f32(vaddq_f32(acc, vld1q_f32(conv_bias + c)), vld1q_f32(add_bias + c));
  return vminq_f32(vmaxq_f32(acc, lo), hi);
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
  // The pixel loops unrolled: rolled, GCC kept acc[P][2] on the stack and
  // loaded and stored two accumulators around every pair of FMLAs
  // (llvm-mca, Cortex-A72: 1.32 MACs per cycle against 1.60 for XNNPACK's
  // 9p8c kernel; benchmarks/results/arm_model.md).
  #pragma GCC unroll 4
  for (size_t p = 0; p < P; ++p) out[p] = args.outputs[row + p];
  size_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    float32x4_t acc[P][2];
    #pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) acc[p][0] = acc[p][1] = vdupq_n_f32(0.0f);
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4);
      #pragma GCC unroll 4
      for (size_t p = 0; p < P; ++p) {
        const float* in = ind[p * stride + t] + c;
        acc[p][0] = vfmaq_f32(acc[p][0], vld1q_f32(in), w0);
        acc[p][1] = vfmaq_f32(acc[p][1], vld1q_f32(in + 4), w1);
      }
    }
    // Vector i is pixel i / 2, channels c + 4 * (i % 2).
    StoreThroughOp<NeonVec, 2 * P, float32x4_t>(
        args.store_op,
        [&](size_t i) {
          return DepthwiseValue(args.conv_bias, args.add_bias, acc[i / 2][i % 2], c + 4 * (i % 2), lo, hi);
        },
        [&](size_t i, float32x4_t v) { vst1q_f32(out[i / 2] + c + 4 * (i % 2), v); });
  }
  for (; c + 4 <= channels; c += 4) {
    float32x4_t acc[P];
    #pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) acc[p] = vdupq_n_f32(0.0f);
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const float32x4_t w0 = vld1q_f32(w);
      #pragma GCC unroll 4
      for (size_t p = 0; p < P; ++p) acc[p] = vfmaq_f32(acc[p], vld1q_f32(ind[p * stride + t] + c), w0);
    }
    StoreThroughOp<NeonVec, P, float32x4_t>(
        args.store_op, [&](size_t p) { return DepthwiseValue(args.conv_bias, args.add_bias, acc[p], c, lo, hi); },
        [&](size_t p, float32x4_t v) { vst1q_f32(out[p] + c, v); });
  }
  for (; c < channels; ++c) {
    for (size_t p = 0; p < P; ++p) out[p][c] = DepthwiseChannel(args, ind + p * stride, channels, c);
  }
}

// P output pixels from x0 of one output row, 4 channels from c, over KW
// kernel columns at stride S: each kernel row's S * (P - 1) + KW input
// vectors are loaded once and feed, from registers, every FMA that reads
// them (output pixel p, kernel column kx: column S * p + kx). kEdges: some
// of those input columns lie outside the row (zeros, as a padding tap
// reads). Sums as DepthwiseBlock's: from zero, tap by tap, then the biases.
template <size_t KW, size_t P, size_t S, bool kEdges>
[[gnu::always_inline]] inline void DepthwiseImageSegment(const DepthwiseImageRowsArgs& a, const float* const* rows,
                                                         size_t c, size_t x0, float* out, float32x4_t lo,
                                                         float32x4_t hi) {
  constexpr size_t kColumns = kSegmentColumns<KW, P, S>;
  const size_t channels = a.channels;
  float32x4_t acc[P];
  #pragma GCC unroll 8
  for (size_t p = 0; p < P; ++p) acc[p] = vdupq_n_f32(0.0f);
  for (size_t ky = 0; ky < a.kernel_height; ++ky) {
    const float* row = rows[ky];
    if (row == nullptr) continue;
    float32x4_t col[kColumns];
    #pragma GCC unroll 24
    for (size_t j = 0; j < kColumns; ++j) {
      const size_t ix = S * x0 + j;  // input column ix - pad_left
      if constexpr (kEdges) {
        col[j] = ix >= a.pad_left && ix - a.pad_left < a.input_width ? vld1q_f32(row + (ix - a.pad_left) * channels + c)
                                                                      : vdupq_n_f32(0.0f);
      } else {
        col[j] = vld1q_f32(row + (ix - a.pad_left) * channels + c);
      }
    }
    const float* w = a.weights + ky * KW * channels + c;
    #pragma GCC unroll 5
    for (size_t kx = 0; kx < KW; ++kx) {
      const float32x4_t wv = vld1q_f32(w + kx * channels);
      #pragma GCC unroll 8
      for (size_t p = 0; p < P; ++p) acc[p] = vfmaq_f32(acc[p], col[S * p + kx], wv);
    }
  }
  StoreThroughOp<NeonVec, P, float32x4_t>(
      a.store_op, [&](size_t p) { return DepthwiseValue(a.conv_bias, a.add_bias, acc[p], c, lo, hi); },
      [&](size_t p, float32x4_t v) { vst1q_f32(out + (x0 + p) * channels + c, v); });
}

// Channels outermost, as the AVX-512 kernel: a 4-channel slice of the
// call's rows stays in L1 from one output row to the next.
template <size_t KW, size_t S>
[[gnu::noinline]] void DepthwiseImageRowsKw(const DepthwiseImageRowsArgs& a) {
  constexpr size_t kP = 8;
  const float32x4_t lo = vdupq_n_f32(a.out_min), hi = vdupq_n_f32(a.out_max);
  const size_t width = a.output_width;
  size_t c = 0;
  for (; c + 4 <= a.channels; c += 4) {
    for (size_t r = 0; r < a.rows; ++r) {
      const float* const* rows = a.input_rows + r * S;
      float* out = a.output_rows[r];
      ForEachImageRowSegment<kP, KW, S>(a, [&](auto pixels, auto edges, size_t x0) {
        DepthwiseImageSegment<KW, decltype(pixels)::value, S, decltype(edges)::value>(a, rows, c, x0, out, lo, hi);
      });
    }
  }
  for (; c < a.channels; ++c) {
    for (size_t r = 0; r < a.rows; ++r) {
      for (size_t x = 0; x < width; ++x) {
        a.output_rows[r][x * a.channels + c] = DepthwiseImageChannel(a, a.input_rows + r * S, x, c);
      }
    }
  }
}

// The instance for the call's stride.
template <size_t KW>
void DepthwiseImageRowsWidth(const DepthwiseImageRowsArgs& a) {
  a.stride == 2 ? DepthwiseImageRowsKw<KW, 2>(a) : DepthwiseImageRowsKw<KW, 1>(a);
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

namespace actsparse {
namespace kernels {
namespace {


// How far ahead of its loads the igemm kernel asks for its weight stream in
// L1, in floats (as the AVX2 kernel; untimed on ARM).
constexpr size_t kWeightsPrefetch = 448;

// 16 weights (four vectors) times lane L of each row's input vector.
template <size_t R, int L>
inline void IgemmStep(const float* w, const float32x4_t x[R], float32x4_t acc[R][4]) {
  const float32x4_t w0 = vld1q_f32(w), w1 = vld1q_f32(w + 4);
  const float32x4_t w2 = vld1q_f32(w + 8), w3 = vld1q_f32(w + 12);
  #pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) {
    acc[r][0] = vfmaq_laneq_f32(acc[r][0], w0, x[r], L);
    acc[r][1] = vfmaq_laneq_f32(acc[r][1], w1, x[r], L);
    acc[r][2] = vfmaq_laneq_f32(acc[r][2], w2, x[r], L);
    acc[r][3] = vfmaq_laneq_f32(acc[r][3], w3, x[r], L);
  }
}

// The igemm block: R (1..4) rows x every tile of the call; input channels
// four at a time through lane-indexed FMAs (one 128-bit load per row feeds
// four steps), accumulators start at the tile's bias.
template <size_t R>
void IgemmBlock(const IgemmArgs& a) {
  const float32x4_t lo = vdupq_n_f32(a.lo), hi = vdupq_n_f32(a.hi);
  const size_t taps = a.taps, kc = a.tap_channels;
  const size_t row_stride = a.indirection_stride ? a.indirection_stride : taps;
  const size_t tile_stride = a.tile_stride ? a.tile_stride : IgemmTileFloats(taps, kc);
  const float* tile = a.packed;
  const float* next = a.prefetch;
  size_t next_lines = a.prefetch_lines;
  // Read once: a vector store may alias anything, so fields read after one
  // would be loaded again in every tile.
  const size_t input_offset = a.input_offset;
  const bool accumulate = a.accumulate, finish = a.finish;
  const StoreOp store_op = a.finish ? a.store_op : StoreOp::kNone;
  float* out_rows[R];
#pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) out_rows[r] = a.outputs[r];
  for (size_t c0 = 0; c0 < a.channels; c0 += kIgemmTile, tile += tile_stride) {
    float32x4_t acc[R][4];
    const size_t width = std::min(kIgemmTile, a.channels - c0);
    #pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) {
      if (!accumulate) {
        #pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[r][j] = vld1q_f32(tile + 4 * j);
      } else {
        alignas(16) float tmp[kIgemmTile] = {};
        std::copy(out_rows[r] + c0, out_rows[r] + c0 + width, tmp);
        #pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[r][j] = vld1q_f32(tmp + 4 * j);
      }
    }
    const float* w = tile + kIgemmTile * (1 + a.reduction_offset);
    for (size_t t = 0; t < taps; ++t) {
      const float* in[R];
      #pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) in[r] = a.indirection[r * row_stride + t] + input_offset;
      size_t k = 0;
      for (; k + 4 <= kc; k += 4, w += 4 * kIgemmTile) {
        // Four lines of weights per group of four steps: the stream ahead
        // into L1, and the next call's weights into L2.
        __builtin_prefetch(w + kWeightsPrefetch, 0, 3);
        __builtin_prefetch(w + kWeightsPrefetch + kIgemmTile, 0, 3);
        __builtin_prefetch(w + kWeightsPrefetch + 2 * kIgemmTile, 0, 3);
        __builtin_prefetch(w + kWeightsPrefetch + 3 * kIgemmTile, 0, 3);
        if (next_lines != 0) {
          __builtin_prefetch(next, 0, 2);
          next += kIgemmTile;
          --next_lines;
        }
        float32x4_t x[R];
        #pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) x[r] = vld1q_f32(in[r] + k);
        IgemmStep<R, 0>(w, x, acc);
        IgemmStep<R, 1>(w + kIgemmTile, x, acc);
        IgemmStep<R, 2>(w + 2 * kIgemmTile, x, acc);
        IgemmStep<R, 3>(w + 3 * kIgemmTile, x, acc);
      }
      for (; k < kc; ++k, w += kIgemmTile) {
        float32x4_t x[R];
        #pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) x[r] = vld1q_dup_f32(in[r] + k);
        IgemmStep<R, 0>(w, x, acc);
      }
    }
    // Vector i is row i / 4, channels c0 + 4 * (i % 4); a partial tile
    // goes through a buffer of the whole tile.
    alignas(16) float tile_out[R][kIgemmTile];
    StoreThroughOp<NeonVec, 4 * R, float32x4_t>(
        store_op,
        [&](size_t i) { return finish ? vminq_f32(vmaxq_f32(acc[i / 4][i % 4], lo), hi) : acc[i / 4][i % 4]; },
        [&](size_t i, float32x4_t v) {
          vst1q_f32((width == kIgemmTile ? out_rows[i / 4] + c0 : tile_out[i / 4]) + 4 * (i % 4), v);
        });
    if (width != kIgemmTile) {
      for (size_t r = 0; r < R; ++r) std::copy(tile_out[r], tile_out[r] + width, out_rows[r] + c0);
    }
  }
}

}  // namespace

void IgemmNeon(const IgemmArgs& args) {
  IgemmInBlocks<kIgemmRowsNeon>(args, [](auto rows, const IgemmArgs& block) { IgemmBlock<decltype(rows)::value>(block); });
}

void DepthwiseImageRowsNeon(const DepthwiseImageRowsArgs& args) {
  if (args.kernel_width == 3) {
    DepthwiseImageRowsWidth<3>(args);
  } else if (args.kernel_width == 5) {
    DepthwiseImageRowsWidth<5>(args);
  }
}

}  // namespace kernels
}  // namespace actsparse
