// AVX2 + FMA micro-kernel for the regular sparse conv: up to 6 output pixels
// x 16 output channels per block, 12 accumulators in registers. Each (tap,
// input channel) step loads one 16-wide weight row and broadcasts one input
// value per pixel. Blocks of 4 and 5 rows (and fewer for tiny calls) take the
// rows a 6-row grid would leave over. The depthwise kernel takes 4 pixels x
// 16 channels per step through pointers, or 3-6 pixels x 8 channels by
// image rows. Compiled with -mavx2 -mfma; selected at run time
// (dispatch.cc).
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <limits>

#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/kernels/tile_util.h"

namespace actsparse {
namespace kernels {
namespace {

constexpr size_t kRows = 6;

// The builtin kernels' clamp, std::min(std::max(v, lo), hi), lane-wise:
// vmaxps / vminps return their second operand where either is NaN (or
// both are zeros), so v goes second: a NaN stays NaN, -0 stays -0.
inline __m256 Clamp(__m256 v, __m256 lo, __m256 hi) { return _mm256_min_ps(hi, _mm256_max_ps(lo, v)); }

// The first `width` (<= 16) floats of a tile's two vectors: whole vectors,
// then halves, pairs and one float (a copy through a buffer cost the
// partial tile of 24 or 40 channels as much as its FMAs).
inline void StoreTile(float* out, __m256 v0, __m256 v1, size_t width) {
  if (width == kConvTile) {
    _mm256_storeu_ps(out, v0);
    _mm256_storeu_ps(out + 8, v1);
    return;
  }
  if (width >= 8) {
    _mm256_storeu_ps(out, v0);
    v0 = v1;
    out += 8;
    width -= 8;
  }
  __m128 part = _mm256_castps256_ps128(v0);
  if (width & 4) {
    _mm_storeu_ps(out, part);
    part = _mm256_extractf128_ps(v0, 1);
    out += 4;
  }
  if (width & 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(out), part);
    part = _mm_movehl_ps(part, part);
    out += 2;
  }
  if (width & 1) _mm_store_ss(out, part);
}

// A tile's first `width` (<= 16) floats as two vectors, zeros past them
// (the partial sums a blocked reduction left in the output rows).
inline void LoadTile(const float* in, size_t width, __m256* v0, __m256* v1) {
  if (width == kConvTile) {
    *v0 = _mm256_loadu_ps(in);
    *v1 = _mm256_loadu_ps(in + 8);
    return;
  }
  alignas(32) float tmp[kConvTile] = {};
  std::copy(in, in + width, tmp);
  *v0 = _mm256_load_ps(tmp);
  *v1 = _mm256_load_ps(tmp + 8);
}

// Loads a row's partial sums of channels [c0, c0 + width) (or zeros).
inline void LoadAcc(const RowsArgs& args, const float* out, size_t width, __m256* acc0, __m256* acc1) {
  if (!args.accumulate) {
    *acc0 = _mm256_setzero_ps();
    *acc1 = _mm256_setzero_ps();
  } else {
    LoadTile(out, width, acc0, acc1);
  }
}

// Stores a row's sums: through biases and the clamp on the last tap block,
// raw otherwise. Only `width` channels are written.
inline void StoreAcc(const RowsArgs& args, __m256 acc0, __m256 acc1, const TileBias& bias, __m256 lo,
                     __m256 hi, float* out, size_t width) {
  if (args.finish) {
    acc0 = _mm256_add_ps(_mm256_add_ps(acc0, _mm256_load_ps(bias.conv)), _mm256_load_ps(bias.add));
    acc1 = _mm256_add_ps(_mm256_add_ps(acc1, _mm256_load_ps(bias.conv + 8)), _mm256_load_ps(bias.add + 8));
    acc0 = Clamp(acc0, lo, hi);
    acc1 = Clamp(acc1, lo, hi);
  }
  StoreTile(out, acc0, acc1, width);
}

// One block of R (1..kRows) output rows x one 16-channel tile over the call's
// taps. Every `prefetch_every` steps it also asks for the next cache line
// from `prefetch`, its share of the weights the next tile (or tap block) will
// stream: they usually come from DRAM (a ResNet's weights outgrow L3), and the
// hardware prefetcher alone leaves the first row block of every tile waiting
// on memory.
template <size_t R>
inline void ConvBlock(const RowsArgs& args, const float* const* ind, size_t row_stride, float* const* out,
                      size_t c0, size_t width, const float* tile, const float* prefetch,
                      size_t prefetch_every, size_t in_channels, const TileBias& bias, __m256 lo,
                      __m256 hi) {
  __m256 acc[R][2];
#pragma GCC unroll 6
  for (size_t r = 0; r < R; ++r) LoadAcc(args, out[r] + c0, width, &acc[r][0], &acc[r][1]);
  const float* w = tile;
  size_t countdown = prefetch_every;
  for (size_t t = 0; t < args.taps; ++t) {
    const float* in[R];
#pragma GCC unroll 6
    for (size_t r = 0; r < R; ++r) in[r] = ind[r * row_stride + t] + args.input_offset;
    // Runs of steps between two prefetches, each run a loop of its own: a
    // countdown test in the loop of FMAs cost 25% on Zen 3 (igemm, 3x3 convs).
    for (size_t ci = 0; ci < in_channels;) {
      if (countdown == 1) {
        // One line (kConvTile floats) of the next tile per prefetch.
        _mm_prefetch(reinterpret_cast<const char*>(prefetch), _MM_HINT_T1);
        prefetch += kConvTile;
        countdown = prefetch_every + 1;
      }
      const size_t run_end = ci + std::min(countdown - 1, in_channels - ci);
      countdown -= run_end - ci;
      for (; ci < run_end; ++ci, w += kConvTile) {
        const __m256 w0 = _mm256_loadu_ps(w);
        const __m256 w1 = _mm256_loadu_ps(w + 8);
#pragma GCC unroll 6
        for (size_t r = 0; r < R; ++r) {
          const __m256 x = _mm256_broadcast_ss(in[r] + ci);
          acc[r][0] = _mm256_fmadd_ps(x, w0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(x, w1, acc[r][1]);
        }
      }
    }
  }
#pragma GCC unroll 6
  for (size_t r = 0; r < R; ++r) StoreAcc(args, acc[r][0], acc[r][1], bias, lo, hi, out[r] + c0, width);
}

using ConvBlockFn = void (*)(const RowsArgs& args, const float* const* ind, size_t row_stride,
                            float* const* out, size_t c0, size_t width, const float* tile,
                            const float* prefetch, size_t prefetch_every, size_t in_channels,
                            const TileBias& bias, __m256 lo, __m256 hi);

// kConvBlocks[rows]: the block kernel for 1..kRows rows (index 0 unused).
constexpr ConvBlockFn kConvBlocks[kRows + 1] = {nullptr,      ConvBlock<1>, ConvBlock<2>, ConvBlock<3>,
                                                ConvBlock<4>, ConvBlock<5>, ConvBlock<6>};

}  // namespace

void ConvRowsAvx2(const RowsArgs& args, size_t in_channels, size_t out_channels) {
  const size_t row_stride = RowStride(args);
  const size_t tile_stride = WeightsTileStride(args, in_channels);
  const __m256 lo = _mm256_set1_ps(args.out_min);
  const __m256 hi = _mm256_set1_ps(args.out_max);
  const BalancedBlocks balanced(args.rows, kRows);
  const size_t blocks = balanced.count;
  TileBias bias;
  for (size_t c0 = 0; c0 < out_channels; c0 += kConvTile) {
    const size_t width = std::min(kConvTile, out_channels - c0);
    bias.Load(args, c0, width);
    const float* tile = args.packed_weights + (c0 / kConvTile) * tile_stride;
    // What the next tile of this call streams, else the next tap block.
    const float* next_weights = c0 + kConvTile < out_channels
                                    ? tile + tile_stride
                                    : args.packed_weights + args.taps * in_channels * kConvTile;
    // The next tile's weights are one line per step of a block. Each block
    // fetches its share, one line every `blocks` steps: spread over the whole
    // tile, the requests do not pile up in the miss queue and stall the FMAs,
    // as one line every step of the first block did (ResNet-18's layer4 with
    // its weights cold: 88 -> 95 GFLOP/s; in the model, 0.8 ms of 6.7).
    const size_t lines = args.taps * in_channels;
    for (size_t i = 0, r0 = 0; i < blocks; ++i) {
      const size_t n = balanced.rows(i);
      // On the first tile, ask for the next block's output rows (all the
      // call's channels): output pixels are scattered rows the hardware
      // prefetcher does not follow, and a big layer's output is cold (the
      // 7x7 stem with its weights warm, output cold: ~4% faster).
      if (c0 == 0 && i + 1 < blocks) {
        for (size_t r = r0 + n; r < r0 + n + balanced.rows(i + 1); ++r) {
          for (size_t c = 0; c < out_channels; c += kConvTile) {
            _mm_prefetch(reinterpret_cast<const char*>(args.outputs[r] + c), _MM_HINT_T0);
          }
        }
      }
      kConvBlocks[n](args, args.indirection + r0 * row_stride, row_stride, args.outputs + r0, c0, width, tile,
                     next_weights + (i * lines / blocks) * kConvTile, blocks, in_channels, bias, lo, hi);
      r0 += n;
    }
  }
}

namespace {

// Biases and clamp on 8 channels of one depthwise output row.
inline __m256 DepthwiseValue(const float* conv_bias, const float* add_bias, __m256 acc, size_t c, __m256 lo,
                             __m256 hi) {
  const __m256 v = _mm256_add_ps(_mm256_add_ps(acc, _mm256_loadu_ps(conv_bias + c)), _mm256_loadu_ps(add_bias + c));
  return Clamp(v, lo, hi);
}

// P output rows (pixels) at once, 16 channels per step. A depthwise conv is
// bound by loads, not FMAs: each weight vector loaded here serves P pixels,
// and the input vectors go straight into the FMAs (one load each), so a step
// of 4 pixels costs 10 vector loads per 8 FMAs where one pixel costs 16.
// The weights stay in registers explicitly: left to itself the compiler
// reloads them for every pixel.
// Not inlined: folded into the row loop, all four instantiations share one
// frame and the hot loop of the 4-pixel one loses registers (20% slower).
// kTaps: the taps at compile time (9, 25: the loop over them unrolled,
// 2-8% faster on MobileNetV2's 7- to 28-wide layers, Zen 3), or 0: args.taps.
template <size_t P, size_t kTaps>
[[gnu::noinline]] void DepthwiseBlock(const RowsArgs& args, size_t row, size_t channels, __m256 lo, __m256 hi) {
  const size_t taps = kTaps != 0 ? kTaps : args.taps, stride = kTaps != 0 ? kTaps : RowStride(args);
  const float* const* ind = args.indirection + row * stride;
  const float* weights = args.packed_weights;
  const float* conv_bias = args.conv_bias;
  const float* add_bias = args.add_bias;
  const StoreOp store_op = args.store_op;
  float* out[P];
#pragma GCC unroll 4
  for (size_t p = 0; p < P; ++p) out[p] = args.outputs[row + p];
  size_t c = 0;
  for (; c + 16 <= channels; c += 16) {
    __m256 acc[P][2];
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) acc[p][0] = acc[p][1] = _mm256_setzero_ps();
    const float* w = weights + c;
#pragma GCC unroll 25
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
#pragma GCC unroll 4
      for (size_t p = 0; p < P; ++p) {
        const float* in = ind[p * stride + t] + c;
        acc[p][0] = _mm256_fmadd_ps(_mm256_loadu_ps(in), w0, acc[p][0]);
        acc[p][1] = _mm256_fmadd_ps(_mm256_loadu_ps(in + 8), w1, acc[p][1]);
      }
    }
    // Vector i is pixel i / 2, channels c + 8 * (i % 2).
    StoreThroughOp<Avx2Vec, 2 * P, __m256>(
        store_op,
        [&](size_t i) { return DepthwiseValue(conv_bias, add_bias, acc[i / 2][i % 2], c + 8 * (i % 2), lo, hi); },
        [&](size_t i, __m256 v) { _mm256_storeu_ps(out[i / 2] + c + 8 * (i % 2), v); });
  }
  for (; c + 8 <= channels; c += 8) {
    __m256 acc[P];
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) acc[p] = _mm256_setzero_ps();
    const float* w = weights + c;
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const __m256 w0 = _mm256_loadu_ps(w);
#pragma GCC unroll 4
      for (size_t p = 0; p < P; ++p) acc[p] = _mm256_fmadd_ps(_mm256_loadu_ps(ind[p * stride + t] + c), w0, acc[p]);
    }
    StoreThroughOp<Avx2Vec, P, __m256>(
        store_op, [&](size_t p) { return DepthwiseValue(conv_bias, add_bias, acc[p], c, lo, hi); },
        [&](size_t p, __m256 v) { _mm256_storeu_ps(out[p] + c, v); });
  }
  for (; c < channels; ++c) {
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) out[p][c] = DepthwiseChannel(args, ind + p * stride, channels, c);
  }
}

// P output pixels from x0 of one output row, 8 channels from c, over KW
// kernel columns at stride S: each kernel row's S * (P - 1) + KW input
// vectors are loaded once and feed every FMA that reads them from
// registers, where the pointer kernel loads an input vector per FMA (and a
// pointer per pixel and tap). kEdges: some of the columns lie outside the
// input row; they read as zeros, as a padding tap through pointers does.
// Same sums in the same order as DepthwiseBlock (a zero column's FMA adds
// +-0 to a sum that is never -0): the same bits.
template <size_t KW, size_t P, size_t S, bool kEdges>
[[gnu::always_inline]] inline void DepthwiseImageSegment(const DepthwiseImageRowsArgs& a, const float* const* rows,
                                                         size_t c, size_t x0, float* out, __m256 lo, __m256 hi) {
  constexpr size_t kColumns = kSegmentColumns<KW, P, S>;
  const size_t channels = a.channels;
  __m256 acc[P];
#pragma GCC unroll 8
  for (size_t p = 0; p < P; ++p) acc[p] = _mm256_setzero_ps();
  const float* w = a.weights + c;
  for (size_t ky = 0; ky < a.kernel_height; ++ky, w += KW * channels) {
    const float* row = rows[ky];
    if (row == nullptr) continue;
    __m256 col[kColumns];
    // Addresses as an offset stepped by a pixel: the column index times the
    // channels per load was an integer multiply per load, and the loop
    // ALU-bound.
    if constexpr (kEdges) {
      // Column j is input column S * x0 + j - pad_left (unsigned: below 0
      // wraps past input_width); `offset` its first float, read only inside.
      size_t ix = S * x0 - a.pad_left;
      ptrdiff_t offset = (static_cast<ptrdiff_t>(S * x0) - static_cast<ptrdiff_t>(a.pad_left)) *
                             static_cast<ptrdiff_t>(channels) +
                         static_cast<ptrdiff_t>(c);
#pragma GCC unroll 16
      for (size_t j = 0; j < kColumns; ++j, ++ix, offset += static_cast<ptrdiff_t>(channels)) {
        col[j] = ix < a.input_width ? _mm256_loadu_ps(row + offset) : _mm256_setzero_ps();
      }
    } else {
      const float* in = row + (S * x0 - a.pad_left) * channels + c;
#pragma GCC unroll 16
      for (size_t j = 0; j < kColumns; ++j, in += channels) col[j] = _mm256_loadu_ps(in);
    }
#pragma GCC unroll 5
    for (size_t kx = 0; kx < KW; ++kx) {
      const __m256 wv = _mm256_loadu_ps(w + kx * channels);
#pragma GCC unroll 8
      for (size_t p = 0; p < P; ++p) acc[p] = _mm256_fmadd_ps(col[S * p + kx], wv, acc[p]);
    }
  }
  // The biases loaded once: a store may alias them, and each pixel's
  // value read them again after the one before was stored.
  const __m256 conv_bias = _mm256_loadu_ps(a.conv_bias + c), add_bias = _mm256_loadu_ps(a.add_bias + c);
  float* o = out + x0 * channels + c;
  StoreThroughOp<Avx2Vec, P, __m256>(
      a.store_op,
      [&](size_t p) { return Clamp(_mm256_add_ps(_mm256_add_ps(acc[p], conv_bias), add_bias), lo, hi); },
      [&](size_t p, __m256 v) { _mm256_storeu_ps(o + p * channels, v); });
}

// Row by row, segment by segment, the channels innermost: a segment's input
// lines serve its 8-channel slices one after the other from L1 (slices
// outermost, as on AVX-512 with whole lines per slice, would read each line
// from L2 twice). A row goes in balanced segments of at most kP pixels (14:
// 5, 5, 4; 7: 4, 3), not kP at a time and a short rest (14: 6, 6, 2), whose
// few pixels per load ran rows of 7 and 14 slower than the pointer kernel.
// The channels past the last 8 through the scalar tap loop.
template <size_t KW, size_t kP, size_t S>
[[gnu::noinline]] void DepthwiseImageRowsAvx2Kw(const DepthwiseImageRowsArgs& a) {
  const __m256 lo = _mm256_set1_ps(a.out_min), hi = _mm256_set1_ps(a.out_max);
  const size_t vector_channels = a.channels / 8 * 8;
  const BalancedBlocks segments(a.output_width, kP);
  for (size_t r = 0; r < a.rows; ++r) {
    const float* const* rows = a.input_rows + r * S;
    float* out = a.output_rows[r];
    for (size_t i = 0, x0 = 0; i < segments.count; ++i) {
      const size_t n = segments.rows(i);
      const bool inside = ImageRowSegmentInside<KW, S>(a, x0, n);
      WithBlockRows<kP>(n, [&](auto pixels) {
        constexpr size_t kPixels = decltype(pixels)::value;
        if (inside) {
          for (size_t c = 0; c < vector_channels; c += 8) {
            DepthwiseImageSegment<KW, kPixels, S, false>(a, rows, c, x0, out, lo, hi);
          }
        } else {
          for (size_t c = 0; c < vector_channels; c += 8) {
            DepthwiseImageSegment<KW, kPixels, S, true>(a, rows, c, x0, out, lo, hi);
          }
        }
      });
      x0 += n;
    }
    for (size_t c = vector_channels; c < a.channels; ++c) {
      for (size_t x = 0; x < a.output_width; ++x) out[x * a.channels + c] = DepthwiseImageChannel(a, rows, x, c);
    }
  }
}

}  // namespace

void DepthwiseImageRowsAvx2(const DepthwiseImageRowsArgs& args) {
  // Pixels per segment: the most whose accumulators, input columns and
  // weight vector fit the 16 registers.
  if (args.kernel_width == 3) {
    args.stride == 2 ? DepthwiseImageRowsAvx2Kw<3, 4, 2>(args) : DepthwiseImageRowsAvx2Kw<3, 6, 1>(args);
  } else if (args.kernel_width == 5) {
    args.stride == 2 ? DepthwiseImageRowsAvx2Kw<5, 3, 2>(args) : DepthwiseImageRowsAvx2Kw<5, 5, 1>(args);
  }
}

void DepthwiseRowsAvx2(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  if (multiplier != 1) {
    DepthwiseRowsScalar(args, in_channels, multiplier);
    return;
  }
  const __m256 lo = _mm256_set1_ps(args.out_min);
  const __m256 hi = _mm256_set1_ps(args.out_max);
  auto run = [&](auto taps) {
    ForEachDepthwiseBlock(args.rows, [&](auto pixels, size_t row) {
      DepthwiseBlock<decltype(pixels)::value, decltype(taps)::value>(args, row, in_channels, lo, hi);
    });
  };
  switch (RowStride(args) == args.taps ? args.taps : 0) {
    case 9: run(std::integral_constant<size_t, 9>{}); break;
    case 25: run(std::integral_constant<size_t, 25>{}); break;
    default: run(std::integral_constant<size_t, 0>{}); break;
  }
}

}  // namespace kernels
}  // namespace actsparse

namespace actsparse {
namespace kernels {
namespace {

// No prefetch of the weight stream into L1 ahead of the loads (the AVX-512
// and NEON igemms have one): on Zen 3 the line every reduction step cost
// 3-9% on every 1x1 and 3x3 conv the AVX2 igemm runs, weights hot in L2 or
// cold alike (scratch harness, interleaved, twenty-third session); the
// hardware prefetcher follows the stream. It was added for ResNet-18's
// layer3/4 convs with the host loaded, which AVX2 now runs through ConvRows
// (max_multi_tap_reduction).

// What every tile group of an igemm block reads, fixed for the call. Read
// once: a vector store may alias anything, so fields read after one would be
// loaded again in every tile.
struct IgemmCall {
  size_t taps, kc, row_stride, tile_stride, input_offset, weights_offset, lines_per_tap;
  float lo, hi;
  bool accumulate;
  StoreOp store_op;
  const char* next;  // the next call's weight lines still to ask for
  size_t next_lines;
};

// T tiles x R rows from `tile` (channels c0 ...): per reduction step, 2T
// weight loads and R broadcasts feed 2RT FMAs into 2RT accumulators that
// start at the tiles' biases and leave the registers once, clamped. Each
// output's sum keeps its order: several tiles at once only give a block of
// one or two rows (a fully connected layer, a squeeze-excitation's 1x1
// convs) independent FMAs to overlap, where one tile's two chains waited on
// the FMA latency. kHalf (T = 1): a last tile of at most 8 channels, whose
// upper vector holds only the packing's zeros: its loads and FMAs are
// skipped (outputs of 24, 40, 72, 120, 184, 200 channels: a quarter to a
// third of their FMAs); the 8 channels' sums are the same.
template <size_t R, size_t T, bool kHalf = false>
[[gnu::always_inline]] inline void IgemmTileGroup(const IgemmArgs& a, IgemmCall& call, const float* tile, size_t c0,
                                                  float* const* out_rows) {
  static_assert(!kHalf || T == 1, "a half tile is a group of its own");
  constexpr size_t V = kHalf ? 1 : 2;  // vectors per tile
  const size_t taps = call.taps, kc = call.kc;
  size_t width[T];
#pragma GCC unroll 4
  for (size_t j = 0; j < T; ++j) width[j] = std::min(kIgemmTile, a.channels - (c0 + j * kIgemmTile));
  __m256 acc[R][V * T];
  if (!call.accumulate) {
#pragma GCC unroll 4
    for (size_t j = 0; j < T; ++j) {
#pragma GCC unroll 2
      for (size_t v = 0; v < V; ++v) {
        const __m256 bias = _mm256_loadu_ps(tile + j * call.tile_stride + 8 * v);
#pragma GCC unroll 6
        for (size_t r = 0; r < R; ++r) acc[r][V * j + v] = bias;
      }
    }
  } else {
#pragma GCC unroll 6
    for (size_t r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (size_t j = 0; j < T; ++j) {
        __m256 lo, hi;
        LoadTile(out_rows[r] + c0 + j * kIgemmTile, width[j], &lo, &hi);
        acc[r][V * j] = lo;
        if constexpr (V == 2) acc[r][V * j + 1] = hi;
      }
    }
  }
  const float* w = tile + call.weights_offset;
  for (size_t t = 0; t < taps; ++t) {
    const float* in[R];
#pragma GCC unroll 6
    for (size_t r = 0; r < R; ++r) in[r] = a.indirection[r * call.row_stride + t] + call.input_offset;
    for (size_t line = std::min(call.lines_per_tap, call.next_lines); line != 0; --line) {
      _mm_prefetch(call.next, _MM_HINT_T1);
      call.next += 64;
      --call.next_lines;
    }
    for (size_t k = 0; k < kc; ++k, w += kIgemmTile) {
      __m256 wv[V * T];
#pragma GCC unroll 4
      for (size_t j = 0; j < T; ++j) {
#pragma GCC unroll 2
        for (size_t v = 0; v < V; ++v) wv[V * j + v] = _mm256_loadu_ps(w + j * call.tile_stride + 8 * v);
      }
#pragma GCC unroll 6
      for (size_t r = 0; r < R; ++r) {
        const __m256 x = _mm256_broadcast_ss(in[r] + k);
#pragma GCC unroll 8
        for (size_t i = 0; i < V * T; ++i) acc[r][i] = _mm256_fmadd_ps(x, wv[i], acc[r][i]);
      }
    }
  }
  // Vector i is row i / VT, channels c0 + 8 * (i % VT).
  const __m256 lo_v = _mm256_set1_ps(call.lo), hi_v = _mm256_set1_ps(call.hi);
  __m256 result[R][V * T];
  StoreThroughOp<Avx2Vec, V * R * T, __m256>(
      call.store_op, [&](size_t i) { return Clamp(acc[i / (V * T)][i % (V * T)], lo_v, hi_v); },
      [&](size_t i, __m256 v) { result[i / (V * T)][i % (V * T)] = v; });
#pragma GCC unroll 4
  for (size_t j = 0; j < T; ++j) {
#pragma GCC unroll 6
    for (size_t r = 0; r < R; ++r) {
      StoreTile(out_rows[r] + c0 + j * kIgemmTile, result[r][V * j], result[r][V * j + V - 1], width[j]);
    }
  }
}

// One tile of a block of R rows of a one-tap call (a 1x1 conv) that starts
// from the bias and finishes with the clamp alone, its first `width`
// channels (V = 1: at most 8, the upper vector's zeros skipped as
// IgemmTileGroup's kHalf does): IgemmTileGroup<R, 1, V == 1>'s sums in its
// order (the same bits), with none of its per-tile bookkeeping (the store
// op, prefetch, partial sums). `in`: the rows' inputs; bounds: lo, hi.
template <size_t R, size_t V>
[[gnu::always_inline]] inline void IgemmOneTapTile(const float* const* in, float* const* out_rows, size_t c0,
                                                   const float* tile, size_t kc, size_t width, const float* bounds) {
  __m256 acc[R][V];
#pragma GCC unroll 2
  for (size_t v = 0; v < V; ++v) {
    const __m256 bias = _mm256_loadu_ps(tile + 8 * v);
#pragma GCC unroll 6
    for (size_t r = 0; r < R; ++r) acc[r][v] = bias;
  }
  const float* w = tile + kIgemmTile;
  for (size_t k = 0; k < kc; ++k, w += kIgemmTile) {
    __m256 wv[V];
#pragma GCC unroll 2
    for (size_t v = 0; v < V; ++v) wv[v] = _mm256_loadu_ps(w + 8 * v);
#pragma GCC unroll 6
    for (size_t r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(in[r] + k);
#pragma GCC unroll 2
      for (size_t v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(x, wv[v], acc[r][v]);
    }
  }
  const __m256 lo = _mm256_broadcast_ss(bounds), hi = _mm256_broadcast_ss(bounds + 1);
#pragma GCC unroll 6
  for (size_t r = 0; r < R; ++r) {
    StoreTile(out_rows[r] + c0, Clamp(acc[r][0], lo, hi), Clamp(acc[r][V - 1], lo, hi), width);
  }
}

// A block's full tiles, then its partial last one (`rest` channels, or
// none). The rows' input pointers are read once for every tile: a short
// reduction paid IgemmBlock's per-tile bookkeeping in every tile (a
// 16-channel one, MobileNetV2's 16 -> 96 expand at 112x112, spent a third of
// its time outside the loop of FMAs).
template <size_t R>
[[gnu::noinline]] void IgemmOneTapBlock(const float* const* in_rows, float* const* out_rows, const float* tile,
                                        size_t full, size_t rest, size_t kc, size_t tile_stride,
                                        const float* bounds) {
  const float* in[R];
#pragma GCC unroll 6
  for (size_t r = 0; r < R; ++r) in[r] = in_rows[r];
  for (size_t j = 0; j < full; ++j, tile += tile_stride) {
    IgemmOneTapTile<R, 2>(in, out_rows, j * kIgemmTile, tile, kc, kIgemmTile, bounds);
  }
  if (rest > 8) {
    IgemmOneTapTile<R, 2>(in, out_rows, full * kIgemmTile, tile, kc, rest, bounds);
  } else if (rest != 0) {
    IgemmOneTapTile<R, 1>(in, out_rows, full * kIgemmTile, tile, kc, rest, bounds);
  }
}

// Tiles a block of R rows computes together: 2RT accumulators, at most 12
// (with the weights and a broadcast, 16 registers).
template <size_t R>
constexpr size_t kIgemmTilesPerGroup = R == 1 ? 4 : R == 2 ? 3 : 1;

// The igemm block: R rows x every tile of the call, in groups of tiles.
template <size_t R>
void IgemmBlock(const IgemmArgs& a) {
  // The clamp's bounds stay in memory until the store: the loop of FMAs
  // needs 15 of the 16 registers, and bounds held in two would be saved and
  // restored around it at every tap. A call that does not finish stores raw
  // sums: infinite bounds (the clamp is then the identity, NaN and -0 too).
  constexpr float kInf = std::numeric_limits<float>::infinity();
  IgemmCall call;
  call.lo = a.finish ? a.lo : -kInf;
  call.hi = a.finish ? a.hi : kInf;
  call.taps = a.taps;
  call.kc = a.tap_channels;
  call.row_stride = a.indirection_stride ? a.indirection_stride : a.taps;
  call.tile_stride = a.tile_stride ? a.tile_stride : IgemmTileFloats(a.taps, a.tap_channels);
  call.input_offset = a.input_offset;
  call.weights_offset = kIgemmTile * (1 + a.reduction_offset);
  call.accumulate = a.accumulate;
  call.store_op = a.finish ? a.store_op : StoreOp::kNone;
  // The next call's lines go out a few per tap, never from the reduction
  // loop: a branch there (is a line left?) cost 25% on Zen 3 (3x3 convs).
  call.next = reinterpret_cast<const char*>(a.prefetch);
  call.next_lines = a.prefetch_lines;
  constexpr size_t kGroup = kIgemmTilesPerGroup<R>;
  const size_t tiles = (a.channels + kIgemmTile - 1) / kIgemmTile;
  // Spread over every (tile group, tap) of the call.
  const size_t steps = std::max<size_t>((tiles / kGroup + tiles % kGroup) * a.taps, 1);
  call.lines_per_tap = (call.next_lines + steps - 1) / steps;
  float* out_rows[R];
#pragma GCC unroll 6
  for (size_t r = 0; r < R; ++r) out_rows[r] = a.outputs[r];
  const float* tile = a.packed;
  size_t c0 = 0, tiles_left = tiles;
  if constexpr (kGroup > 1) {
    for (; tiles_left >= kGroup; tiles_left -= kGroup, c0 += kGroup * kIgemmTile, tile += kGroup * call.tile_stride) {
      IgemmTileGroup<R, kGroup>(a, call, tile, c0, out_rows);
    }
  }
  for (; tiles_left != 0; --tiles_left, c0 += kIgemmTile, tile += call.tile_stride) {
    if (a.channels - c0 <= 8) {
      IgemmTileGroup<R, 1, true>(a, call, tile, c0, out_rows);
    } else {
      IgemmTileGroup<R, 1>(a, call, tile, c0, out_rows);
    }
  }
}

// Whether IgemmOneTap takes the call: one tap, from the bias, finishing
// with the clamp alone (or not finishing), nothing to prefetch, blocks of at
// least 3 rows (fewer: IgemmBlock's tile groups overlap their FMA chains).
bool OneTapCall(const IgemmArgs& a) {
  return a.taps == 1 && !a.accumulate && a.reduction_offset == 0 && a.prefetch_lines == 0 &&
         (!a.finish || a.store_op == StoreOp::kNone) && a.rows >= 3;
}

// A one-tap call (a 1x1 conv) whole, row block after row block through
// IgemmOneTapBlock: the same sums as IgemmBlock's. Per block of 6 rows
// IgemmBlock's set-up (its frame, the call's fields, the prefetch share's
// division) cost a 16-channel reduction about 100 cycles against its 6
// tiles' 600 of FMAs. The blocks' row pointers are built here, not through
// IgemmInBlocks (which has nothing to prefetch to share out here, and whose
// per-block copy of the call's fields cost those 1x1 convs 4-5% in
// conv_bench).
[[gnu::noinline]] void IgemmOneTap(const IgemmArgs& a) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const float bounds[2] = {a.finish ? a.lo : -kInf, a.finish ? a.hi : kInf};
  const size_t full = a.channels / kIgemmTile;
  const size_t tile_stride = a.tile_stride ? a.tile_stride : IgemmTileFloats(1, a.tap_channels);
  const size_t row_stride = a.indirection_stride ? a.indirection_stride : 1;
  const bool direct = a.direct_input_stride != 0;
  const size_t rest = a.channels - full * kIgemmTile;  // the partial last tile's channels
  const float* in_rows[kIgemmRowsAvx2];
  float* out_rows[kIgemmRowsAvx2];
  const BalancedBlocks blocks(a.rows, kIgemmRowsAvx2);
  for (size_t b = 0, r0 = 0; b < blocks.count; ++b) {
    const size_t n = blocks.rows(b);
    for (size_t r = 0; r < n; ++r) {
      const size_t row = r0 + r;
      in_rows[r] = (direct ? a.indirection[0] + row * a.direct_input_stride : a.indirection[row * row_stride]) +
                   a.input_offset;
      out_rows[r] = direct ? a.outputs[0] + row * a.direct_output_stride : a.outputs[row];
    }
    WithBlockRows<kIgemmRowsAvx2>(n, [&](auto rows) {
      constexpr size_t R = decltype(rows)::value;
      IgemmOneTapBlock<R>(in_rows, out_rows, a.packed, full, rest, a.tap_channels, tile_stride, bounds);
    });
    r0 += n;
  }
}

}  // namespace

void IgemmAvx2(const IgemmArgs& args) {
  if (OneTapCall(args)) {
    IgemmOneTap(args);
    return;
  }
  IgemmInBlocks<kIgemmRowsAvx2>(args, [](auto rows, const IgemmArgs& block) { IgemmBlock<decltype(rows)::value>(block); });
}

}  // namespace kernels
}  // namespace actsparse
