// AVX-512 micro-kernels (x86-64 with AVX512F; compiled with -mavx512f -mfma,
// selected at run time by dispatch.cc). The igemm kernel takes up to 7 rows
// x two 16-channel tiles per step: each zmm register holds one tile row of
// 16 channels, 14 accumulators, two weight streams (one per tile).
#include <immintrin.h>

#include <algorithm>

#include "delegate/kernels/sparse_conv_kernels.h"

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
  const size_t taps = a.taps, kc = a.tap_channels;
  const size_t row_stride = a.indirection_stride ? a.indirection_stride : taps;
  const __m512 lo = _mm512_set1_ps(a.lo), hi = _mm512_set1_ps(a.hi);
  __m512 acc[R][T];
  const float* w[T];
#pragma GCC unroll 2
  for (size_t t = 0; t < T; ++t) {
    const float* header = tile + t * tile_stride;
    w[t] = header + kIgemmTile * (1 + a.reduction_offset);
    const __mmask16 mask = t + 1 == T ? WidthMask(last_width) : WidthMask(kIgemmTile);
#pragma GCC unroll 7
    for (size_t r = 0; r < R; ++r) {
      acc[r][t] = a.accumulate ? _mm512_maskz_loadu_ps(mask, a.outputs[r] + c0 + t * kIgemmTile)
                               : _mm512_loadu_ps(header);
    }
  }
  for (size_t p = 0; p < taps; ++p) {
    const float* in[R];
#pragma GCC unroll 7
    for (size_t r = 0; r < R; ++r) in[r] = a.indirection[r * row_stride + p] + a.input_offset;
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
      const __m512 v = a.finish ? _mm512_min_ps(_mm512_max_ps(acc[r][t], lo), hi) : acc[r][t];
      _mm512_mask_storeu_ps(a.outputs[r] + c0 + t * kIgemmTile, mask, v);
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
  switch (args.rows) {
    case 1: IgemmBlock<1>(args); break;
    case 2: IgemmBlock<2>(args); break;
    case 3: IgemmBlock<3>(args); break;
    case 4: IgemmBlock<4>(args); break;
    case 5: IgemmBlock<5>(args); break;
    case 6: IgemmBlock<6>(args); break;
    case 7: IgemmBlock<7>(args); break;
    default: break;
  }
}

}  // namespace kernels
}  // namespace actsparse
