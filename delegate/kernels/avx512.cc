// AVX-512 micro-kernels (x86-64 with AVX512F; compiled with -mavx512f -mfma,
// selected at run time by dispatch.cc). The igemm kernel takes up to 7 rows
// x two 16-channel tiles per step: each zmm register holds one tile row of
// 16 channels, 14 accumulators, two weight streams (one per tile). The
// depthwise kernel takes 4 pixels x 32 channels per step.
#include <immintrin.h>

#include <algorithm>

#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/kernels/tile_util.h"

namespace actsparse {
namespace kernels {
namespace {

// As the AVX2 kernel: the weight streams ahead into L1 (28 reduction steps).
constexpr size_t kWeightsPrefetch = 448;

inline __mmask16 WidthMask(size_t width) { return static_cast<__mmask16>((1u << width) - 1u); }

// R rows x T (1 or 2) tiles starting at `tile`; `width` channels of the last tile.
template <size_t R, size_t T>
inline void IgemmTiles(const IgemmArgs& a, const float* tile, size_t tile_stride, size_t c0, size_t last_width,
                       const char*& next, size_t& next_lines) {
  // Read once: a vector store may alias anything, so fields read after one
  // would be loaded again (the finish flag once per row).
  const size_t taps = a.taps, kc = a.tap_channels;
  const size_t row_stride = a.indirection_stride ? a.indirection_stride : taps;
  const size_t input_offset = a.input_offset;
  const bool accumulate = a.accumulate, finish = a.finish;
  const __m512 lo = _mm512_set1_ps(a.lo), hi = _mm512_set1_ps(a.hi);
  float* out[R];
#pragma GCC unroll 7
  for (size_t r = 0; r < R; ++r) out[r] = a.outputs[r] + c0;
  __m512 acc[R][T];
  const float* w[T];
#pragma GCC unroll 2
  for (size_t t = 0; t < T; ++t) {
    const float* header = tile + t * tile_stride;
    w[t] = header + kIgemmTile * (1 + a.reduction_offset);
    const __mmask16 mask = t + 1 == T ? WidthMask(last_width) : WidthMask(kIgemmTile);
#pragma GCC unroll 7
    for (size_t r = 0; r < R; ++r) {
      acc[r][t] = accumulate ? _mm512_maskz_loadu_ps(mask, out[r] + t * kIgemmTile) : _mm512_loadu_ps(header);
    }
  }
  for (size_t p = 0; p < taps; ++p) {
    const float* in[R];
#pragma GCC unroll 7
    for (size_t r = 0; r < R; ++r) in[r] = a.indirection[r * row_stride + p] + input_offset;
    for (size_t k = 0; k < kc; ++k) {
      __m512 wv[T];
#pragma GCC unroll 2
      for (size_t t = 0; t < T; ++t) {
        wv[t] = _mm512_loadu_ps(w[t]);
        _mm_prefetch(reinterpret_cast<const char*>(w[t] + kWeightsPrefetch), _MM_HINT_T0);
        w[t] += kIgemmTile;
      }
      if (next_lines != 0) {
        _mm_prefetch(next, _MM_HINT_T1);
        next += 64;
        --next_lines;
      }
#pragma GCC unroll 7
      for (size_t r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(in[r][k]);
#pragma GCC unroll 2
        for (size_t t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(x, wv[t], acc[r][t]);
      }
    }
  }
#pragma GCC unroll 2
  for (size_t t = 0; t < T; ++t) {
    const __mmask16 mask = t + 1 == T ? WidthMask(last_width) : WidthMask(kIgemmTile);
#pragma GCC unroll 7
    for (size_t r = 0; r < R; ++r) {
      const __m512 v = finish ? _mm512_min_ps(_mm512_max_ps(acc[r][t], lo), hi) : acc[r][t];
      _mm512_mask_storeu_ps(out[r] + t * kIgemmTile, mask, v);
    }
  }
}

template <size_t R>
void IgemmBlock(const IgemmArgs& a) {
  const size_t tile_stride = a.tile_stride ? a.tile_stride : IgemmTileFloats(a.taps, a.tap_channels);
  const char* next = reinterpret_cast<const char*>(a.prefetch);
  size_t next_lines = a.prefetch_lines;
  const float* tile = a.packed;
  size_t c0 = 0;
  for (; c0 + 2 * kIgemmTile <= a.channels; c0 += 2 * kIgemmTile, tile += 2 * tile_stride) {
    IgemmTiles<R, 2>(a, tile, tile_stride, c0, kIgemmTile, next, next_lines);
  }
  if (c0 + kIgemmTile < a.channels) {
    IgemmTiles<R, 2>(a, tile, tile_stride, c0, a.channels - c0 - kIgemmTile, next, next_lines);
  } else if (c0 < a.channels) {
    IgemmTiles<R, 1>(a, tile, tile_stride, c0, a.channels - c0, next, next_lines);
  }
}

}  // namespace

void IgemmAvx512(const IgemmArgs& args) {
  WithBlockRows<kIgemmRowsAvx512>(args.rows, [&](auto rows) { IgemmBlock<decltype(rows)::value>(args); });
}

}  // namespace kernels
}  // namespace actsparse

namespace actsparse {
namespace kernels {
namespace {

// The add bias and clamp on an accumulator that started at the conv bias,
// stored to the channels of `mask`.
inline void DepthwiseStore(__m512 acc, __m512 add_bias, __mmask16 mask, __m512 lo, __m512 hi, float* out) {
  _mm512_mask_storeu_ps(out, mask, _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(acc, add_bias), lo), hi));
}

// P output pixels x 32 channels per step (two zmm per pixel), then 16, then
// a masked tail: each weight vector serves P pixels, the inputs go straight
// into the FMAs (as the AVX2 kernel, twice as wide); sums start at the conv
// bias, as XNNPACK's. kTaps > 0 unrolls the
// taps (3x3 and 5x5 kernels), so that every input load instruction walks
// one tap's channels at a constant stride, which the hardware prefetchers
// follow; a tap loop sends one load instruction through all taps' rows.
// kTaps = 0: args.taps at run time. Not inlined, as the AVX2 kernel.
template <size_t P, size_t kTaps>
[[gnu::noinline]] void DepthwiseBlock(const RowsArgs& args, size_t row, size_t channels, __m512 lo, __m512 hi) {
  // Read once: a vector store may alias anything, args included.
  const size_t stride = RowStride(args), taps = kTaps != 0 ? kTaps : args.taps;
  const float* const* ind = args.indirection + row * stride;
  const float* weights = args.packed_weights;
  const float* conv_bias = args.conv_bias;
  const float* add_bias = args.add_bias;
  float* out[P];
#pragma GCC unroll 4
  for (size_t p = 0; p < P; ++p) out[p] = args.outputs[row + p];
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m512 acc[P][2];
    const __m512 bias0 = _mm512_loadu_ps(conv_bias + c), bias1 = _mm512_loadu_ps(conv_bias + c + 16);
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) {
      acc[p][0] = bias0;
      acc[p][1] = bias1;
    }
    const float* w = weights + c;
#pragma GCC unroll 25
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#pragma GCC unroll 4
      for (size_t p = 0; p < P; ++p) {
        const float* in = ind[p * stride + t] + c;
        acc[p][0] = _mm512_fmadd_ps(_mm512_loadu_ps(in), w0, acc[p][0]);
        acc[p][1] = _mm512_fmadd_ps(_mm512_loadu_ps(in + 16), w1, acc[p][1]);
      }
    }
    const __m512 add0 = _mm512_loadu_ps(add_bias + c), add1 = _mm512_loadu_ps(add_bias + c + 16);
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) {
      DepthwiseStore(acc[p][0], add0, 0xFFFF, lo, hi, out[p] + c);
      DepthwiseStore(acc[p][1], add1, 0xFFFF, lo, hi, out[p] + c + 16);
    }
  }
  for (; c < channels; c += 16) {
    const __mmask16 mask = WidthMask(std::min<size_t>(16, channels - c));
    __m512 acc[P];
    const __m512 bias = _mm512_maskz_loadu_ps(mask, conv_bias + c);
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) acc[p] = bias;
    const float* w = weights + c;
#pragma GCC unroll 25
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const __m512 w0 = _mm512_maskz_loadu_ps(mask, w);
#pragma GCC unroll 4
      for (size_t p = 0; p < P; ++p) {
        acc[p] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, ind[p * stride + t] + c), w0, acc[p]);
      }
    }
    const __m512 add = _mm512_maskz_loadu_ps(mask, add_bias + c);
#pragma GCC unroll 4
    for (size_t p = 0; p < P; ++p) DepthwiseStore(acc[p], add, mask, lo, hi, out[p] + c);
  }
}

template <size_t kTaps>
void DepthwiseRowsTaps(const RowsArgs& args, size_t channels, __m512 lo, __m512 hi) {
  ForEachDepthwiseBlock(args.rows, [&](auto pixels, size_t row) {
    DepthwiseBlock<decltype(pixels)::value, kTaps>(args, row, channels, lo, hi);
  });
}

}  // namespace

void DepthwiseRowsAvx512(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  if (multiplier != 1) {
    DepthwiseRowsScalar(args, in_channels, multiplier);
    return;
  }
  const __m512 lo = _mm512_set1_ps(args.out_min);
  const __m512 hi = _mm512_set1_ps(args.out_max);
  switch (args.taps) {
    case 9: DepthwiseRowsTaps<9>(args, in_channels, lo, hi); break;
    case 25: DepthwiseRowsTaps<25>(args, in_channels, lo, hi); break;
    default: DepthwiseRowsTaps<0>(args, in_channels, lo, hi); break;
  }
}

}  // namespace kernels
}  // namespace actsparse
