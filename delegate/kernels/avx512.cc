// AVX-512 micro-kernels (x86-64 with AVX512F; compiled with -mavx512f -mfma,
// selected at run time by dispatch.cc). The igemm kernel takes up to 10 rows
// x two 16-channel tiles per step: each zmm register holds one tile row of
// 16 channels, 20 accumulators, two weight streams (one per tile). Ten rows,
// not XNNPACK's seven: each weight line loaded from L2 feeds 10 FMAs, not 7
// (ResNet-18 s=0.3 +2-3% at 1 and 2 threads, MobileNetV2/V3 +0-2%; 12 and 14
// rows were no faster), and the ten row pointers still fit the registers.
// The depthwise kernel takes 4 pixels x 32 channels per step.
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

// The builtin kernels' clamp, std::min(std::max(v, lo), hi), lane-wise:
// vmaxps / vminps return their second operand where either is NaN (or
// both are zeros), so v goes second: a NaN stays NaN, -0 stays -0.
inline __m512 Clamp(__m512 v, __m512 lo, __m512 hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }

// What every tile of one call shares, read from IgemmArgs once per call:
// a vector store may alias anything, so fields read after one would be
// loaded again.
template <size_t R>
struct IgemmCall {
  const float* const* indirection;
  size_t row_stride, taps, kc, input_offset;
  const float* direct_input;  // with direct_stride: row r's input at + r * direct_stride
  size_t direct_stride;
  size_t tile_stride;    // floats from a tile to the next
  size_t weights_skip;   // floats from a tile's start to this call's weights
  float* out[R];
  bool accumulate, finish;
  StoreOp store_op;
  __m512 lo, hi;
};

// R rows x T (1 or 2) tiles at `tile`, channels from c0; `last_mask` covers
// the last tile's channels. Inlined into the call's tile loop: as a function
// of its own per tile pair, re-reading the args and rebuilding row pointers
// and masks, it ran a 1x1 conv of 32 -> 192 channels 7-10% slower (alone,
// interleaved); the loops as here also need -fira-region=all (BUILD).
template <size_t R, size_t T>
[[gnu::always_inline]] inline void IgemmTiles(const IgemmCall<R>& c, const float* tile, size_t c0, __mmask16 last_mask,
                                              const char*& next, size_t& next_lines) {
  __m512 acc[R][T];
#pragma GCC unroll 2
  for (size_t t = 0; t < T; ++t) {
    const __mmask16 mask = t + 1 == T ? last_mask : __mmask16{0xffff};
#pragma GCC unroll 10
    for (size_t r = 0; r < R; ++r) {
      acc[r][t] = c.accumulate ? _mm512_maskz_loadu_ps(mask, c.out[r] + c0 + t * kIgemmTile)
                               : _mm512_loadu_ps(tile + t * c.tile_stride);
    }
  }
  // Tile 1's weights at a fixed distance from tile 0's: one pointer.
  const float* w = tile + c.weights_skip;
  const size_t second = T == 2 ? c.tile_stride : 0;
  for (size_t p = 0; p < c.taps; ++p) {
    const float* in[R];
#pragma GCC unroll 10
    for (size_t r = 0; r < R; ++r) {
      in[r] = (c.direct_stride ? c.direct_input + r * c.direct_stride : c.indirection[r * c.row_stride + p]) +
              c.input_offset;
    }
    const auto step = [&](size_t k) [[gnu::always_inline]] {
      __m512 wv[T];
      wv[0] = _mm512_loadu_ps(w);
      _mm_prefetch(reinterpret_cast<const char*>(w + kWeightsPrefetch), _MM_HINT_T0);
      if constexpr (T == 2) {
        wv[1] = _mm512_loadu_ps(w + second);
        _mm_prefetch(reinterpret_cast<const char*>(w + second + kWeightsPrefetch), _MM_HINT_T0);
      }
      w += kIgemmTile;
#pragma GCC unroll 10
      for (size_t r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(in[r][k]);
#pragma GCC unroll 2
        for (size_t t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(x, wv[t], acc[r][t]);
      }
    };
    // Steps that also ask for a line of the next call's weights (spread
    // over the steps: a burst of them stalls the loop), then the rest with
    // no cursor to test.
    const size_t prefetching = std::min(c.kc, next_lines);
    size_t k = 0;
    for (; k < prefetching; ++k) {
      step(k);
      _mm_prefetch(next, _MM_HINT_T1);
      next += 64;
    }
    next_lines -= prefetching;
    for (; k < c.kc; ++k) step(k);
  }
  // Vector i is row i % R of tile i / R.
  StoreThroughOp<Avx512Vec, R * T, __m512>(
      c.store_op,
      [&](size_t i) { return c.finish ? Clamp(acc[i % R][i / R], c.lo, c.hi) : acc[i % R][i / R]; },
      [&](size_t i, __m512 v) {
        const size_t t = i / R;
        _mm512_mask_storeu_ps(c.out[i % R] + c0 + t * kIgemmTile, t + 1 == T ? last_mask : __mmask16{0xffff}, v);
      });
}

// One block of R rows from row r0 of the call; `direct_input` / `out_base`
// non-null: rows by arithmetic (IgemmArgs::direct_*_stride) from there.
template <size_t R>
[[gnu::noinline]] void IgemmBlock(const IgemmArgs& a, size_t r0, const float* direct_input, float* out_base,
                                  const char* next, size_t next_lines) {
  IgemmCall<R> c;
  c.taps = a.taps;
  c.kc = a.tap_channels;
  c.row_stride = a.indirection_stride ? a.indirection_stride : a.taps;
  c.indirection = a.indirection + r0 * c.row_stride;
  c.input_offset = a.input_offset;
  c.direct_input = direct_input;
  c.direct_stride = direct_input ? a.direct_input_stride : 0;
  c.tile_stride = a.tile_stride ? a.tile_stride : IgemmTileFloats(a.taps, a.tap_channels);
  c.weights_skip = kIgemmTile * (1 + a.reduction_offset);
#pragma GCC unroll 10
  for (size_t r = 0; r < R; ++r) c.out[r] = out_base ? out_base + r * a.direct_output_stride : a.outputs[r0 + r];
  c.accumulate = a.accumulate;
  c.finish = a.finish;
  c.store_op = a.finish ? a.store_op : StoreOp::kNone;
  c.lo = _mm512_set1_ps(a.lo);
  c.hi = _mm512_set1_ps(a.hi);
  const size_t channels = a.channels;
  const float* tile = a.packed;
  size_t c0 = 0;
  for (; c0 + 2 * kIgemmTile <= channels; c0 += 2 * kIgemmTile, tile += 2 * c.tile_stride) {
    IgemmTiles<R, 2>(c, tile, c0, 0xffff, next, next_lines);
  }
  if (c0 + kIgemmTile < channels) {
    IgemmTiles<R, 2>(c, tile, c0, WidthMask(channels - c0 - kIgemmTile), next, next_lines);
  } else if (c0 < channels) {
    IgemmTiles<R, 1>(c, tile, c0, WidthMask(channels - c0), next, next_lines);
  }
}

}  // namespace

void IgemmAvx512(const IgemmArgs& args) {
  // Rows by arithmetic are read as such, not through pointers built per block.
  const bool direct = args.direct_input_stride != 0;
  const float* input = direct ? args.indirection[0] : nullptr;
  float* output = direct ? args.outputs[0] : nullptr;
  ForEachIgemmRowBlock<kIgemmRowsAvx512>(args, [&](const IgemmRowBlock& b) {
    WithBlockRows<kIgemmRowsAvx512>(b.rows, [&](auto rows) {
      IgemmBlock<decltype(rows)::value>(args, b.first_row, direct ? input + b.first_row * args.direct_input_stride : nullptr,
                                        direct ? output + b.first_row * args.direct_output_stride : nullptr,
                                        b.prefetch, b.prefetch_lines);
    });
  });
}

}  // namespace kernels
}  // namespace actsparse

namespace actsparse {
namespace kernels {
namespace {

// The add bias and clamp on an accumulator that started at the conv bias.
inline __m512 DepthwiseValue(__m512 acc, __m512 add_bias, __m512 lo, __m512 hi) {
  return Clamp(_mm512_add_ps(acc, add_bias), lo, hi);
}

// P (kDepthwisePixelsAvx512) output pixels x 32 channels per step (two zmm
// per pixel), then 16, then a masked tail: each weight vector serves P
// pixels, the inputs go straight into the FMAs (as the AVX2 kernel, twice as
// wide); sums start at the conv bias, as XNNPACK's. kTaps > 0 unrolls the
// taps (3x3 and 5x5 kernels), so that every input load instruction walks
// one tap's channels at a constant stride, which the hardware prefetchers
// follow; a tap loop sends one load instruction through all taps' rows.
// kTaps = 0: args.taps at run time. Not inlined, as the AVX2 kernel.
template <size_t P, size_t kTaps>
[[gnu::noinline]] void DepthwiseBlock(const RowsArgs& args, size_t row, size_t channels, __m512 lo, __m512 hi) {
  // Read once: a vector store may alias anything, args included. With
  // kTaps, the rows' pointers lie kTaps apart (the caller checks), so each
  // is one load at a constant offset from `ind`: with a run-time stride the
  // compiler kept the 36 pointers' addresses in vector registers and moved
  // each to a general one before every load (MobileNetV2's 14x14 layer
  // alone, in L2, 4 pixels per step: 68 -> 77 GFLOP/s).
  const size_t stride = kTaps != 0 ? kTaps : RowStride(args), taps = kTaps != 0 ? kTaps : args.taps;
  const float* const* ind = args.indirection + row * stride;
  const float* weights = args.packed_weights;
  const float* conv_bias = args.conv_bias;
  const float* add_bias = args.add_bias;
  const StoreOp store_op = args.store_op;
  float* out[P];
#pragma GCC unroll 6
  for (size_t p = 0; p < P; ++p) out[p] = args.outputs[row + p];
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m512 acc[P][2];
    const __m512 bias0 = _mm512_loadu_ps(conv_bias + c), bias1 = _mm512_loadu_ps(conv_bias + c + 16);
#pragma GCC unroll 6
    for (size_t p = 0; p < P; ++p) {
      acc[p][0] = bias0;
      acc[p][1] = bias1;
    }
    const float* w = weights + c;
#pragma GCC unroll 25
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#pragma GCC unroll 6
      for (size_t p = 0; p < P; ++p) {
        const float* in = ind[p * stride + t] + c;
        acc[p][0] = _mm512_fmadd_ps(_mm512_loadu_ps(in), w0, acc[p][0]);
        acc[p][1] = _mm512_fmadd_ps(_mm512_loadu_ps(in + 16), w1, acc[p][1]);
      }
    }
    const __m512 add0 = _mm512_loadu_ps(add_bias + c), add1 = _mm512_loadu_ps(add_bias + c + 16);
    // Vector i is pixel i / 2, channels c + 16 * (i % 2).
    StoreThroughOp<Avx512Vec, 2 * P, __m512>(
        store_op, [&](size_t i) { return DepthwiseValue(acc[i / 2][i % 2], i % 2 ? add1 : add0, lo, hi); },
        [&](size_t i, __m512 v) { _mm512_storeu_ps(out[i / 2] + c + 16 * (i % 2), v); });
  }
  for (; c < channels; c += 16) {
    const __mmask16 mask = WidthMask(std::min<size_t>(16, channels - c));
    __m512 acc[P];
    const __m512 bias = _mm512_maskz_loadu_ps(mask, conv_bias + c);
#pragma GCC unroll 6
    for (size_t p = 0; p < P; ++p) acc[p] = bias;
    const float* w = weights + c;
#pragma GCC unroll 25
    for (size_t t = 0; t < taps; ++t, w += channels) {
      const __m512 w0 = _mm512_maskz_loadu_ps(mask, w);
#pragma GCC unroll 6
      for (size_t p = 0; p < P; ++p) {
        acc[p] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, ind[p * stride + t] + c), w0, acc[p]);
      }
    }
    const __m512 add = _mm512_maskz_loadu_ps(mask, add_bias + c);
    StoreThroughOp<Avx512Vec, P, __m512>(
        store_op, [&](size_t p) { return DepthwiseValue(acc[p], add, lo, hi); },
        [&](size_t p, __m512 v) { _mm512_mask_storeu_ps(out[p] + c, mask, v); });
  }
}

template <size_t kTaps>
void DepthwiseRowsTaps(const RowsArgs& args, size_t channels, __m512 lo, __m512 hi) {
  ForEachDepthwiseBlock<kDepthwisePixelsAvx512>(args.rows, [&](auto pixels, size_t row) {
    DepthwiseBlock<decltype(pixels)::value, kTaps>(args, row, channels, lo, hi);
  });
}

// P output pixels from x0 of one output row, 16 channels from c (`mask`),
// over KW kernel columns at stride S: each kernel row's input vectors are
// loaded once and feed, from registers, every FMA that reads them. What
// DepthwiseImageSlice does not take: a row's last pixels, a channel tail
// (kFull false: masked weight loads and stores too), edges it has no
// instance for. Every input load is masked (an extra port 0/5 uop beside
// the FMAs); the columns outside the row are masked off entirely (zeros, as
// a padding tap reads), through a pointer to a column inside: no branch, no
// address outside the row.
template <size_t KW, size_t P, size_t S, bool kFull>
[[gnu::always_inline]] inline void DepthwiseImageSegment(const DepthwiseImageRowsArgs& a, const float* const* rows,
                                                         size_t c, __mmask16 mask, size_t x0, float* out,
                                                         __m512 add, __m512 lo, __m512 hi) {
  constexpr size_t kColumns = kSegmentColumns<KW, P, S>;
  const size_t channels = a.channels;
  // Column j of the segment is input column S * x0 + j - pad_left.
  __mmask16 column_mask[kColumns];
  size_t column_offset[kColumns];  // floats from the row's start (a column inside the row when masked off)
#pragma GCC unroll 24
  for (size_t j = 0; j < kColumns; ++j) {
    const size_t ix = S * x0 + j;
    const bool inside = ix >= a.pad_left && ix - a.pad_left < a.input_width;
    column_mask[j] = inside ? mask : __mmask16{0};
    column_offset[j] = (inside ? ix - a.pad_left : 0) * channels + c;
  }
  __m512 acc[P];
  const __m512 bias = _mm512_maskz_loadu_ps(mask, a.conv_bias + c);
#pragma GCC unroll 8
  for (size_t p = 0; p < P; ++p) acc[p] = bias;
  const float* w = a.weights + c;
  for (size_t ky = 0; ky < a.kernel_height; ++ky, w += KW * channels) {
    const float* row = rows[ky];
    if (row == nullptr) continue;
    __m512 col[kColumns];
#pragma GCC unroll 24
    for (size_t j = 0; j < kColumns; ++j) col[j] = _mm512_maskz_loadu_ps(column_mask[j], row + column_offset[j]);
    const float* wk = w;
#pragma GCC unroll 5
    for (size_t kx = 0; kx < KW; ++kx, wk += channels) {
      const __m512 wv = kFull ? _mm512_loadu_ps(wk) : _mm512_maskz_loadu_ps(mask, wk);
#pragma GCC unroll 8
      for (size_t p = 0; p < P; ++p) acc[p] = _mm512_fmadd_ps(col[S * p + kx], wv, acc[p]);
    }
  }
  float* o = out + x0 * channels + c;
  StoreThroughOp<Avx512Vec, P, __m512>(
      a.store_op, [&](size_t p) { return DepthwiseValue(acc[p], add, lo, hi); },
      [&](size_t p, __m512 v) {
        if constexpr (kFull) {
          _mm512_storeu_ps(o + p * channels, v);
        } else {
          _mm512_mask_storeu_ps(o + p * channels, mask, v);
        }
      });
}

// A whole 16-channel slice of P output pixels from x0 whose first L and
// last R input columns lie outside the row (compile-time: the FMAs with
// those zero columns are left out, and every load is a plain one). With
// masked loads everywhere the kernel ran MobileNetV2's 28x28x192 layer at
// 78 GFLOP/s (32% of the FMA bound), 116 so.
template <size_t KW, size_t P, size_t S, size_t L, size_t R>
[[gnu::always_inline]] inline void DepthwiseImageSlice(const DepthwiseImageRowsArgs& a, const float* const* rows,
                                                       size_t c, size_t x0, float* out, __m512 add, __m512 lo,
                                                       __m512 hi) {
  constexpr size_t kColumns = kSegmentColumns<KW, P, S>;
  const size_t channels = a.channels;
  __m512 acc[P];
  const __m512 bias = _mm512_loadu_ps(a.conv_bias + c);
#pragma GCC unroll 8
  for (size_t p = 0; p < P; ++p) acc[p] = bias;
  const size_t first = (S * x0 + L - a.pad_left) * channels + c;  // column L, the first inside the row
  const float* w = a.weights + c;
  for (size_t ky = 0; ky < a.kernel_height; ++ky, w += KW * channels) {
    const float* row = rows[ky];
    if (row == nullptr) continue;
    __m512 col[kColumns];
    const float* in = row + first;
#pragma GCC unroll 24
    for (size_t j = L; j < kColumns - R; ++j, in += channels) col[j] = _mm512_loadu_ps(in);
    const float* wk = w;
#pragma GCC unroll 5
    for (size_t kx = 0; kx < KW; ++kx, wk += channels) {
      const __m512 wv = _mm512_loadu_ps(wk);
#pragma GCC unroll 8
      for (size_t p = 0; p < P; ++p) {
        const size_t j = S * p + kx;
        if (j >= L && j < kColumns - R) acc[p] = _mm512_fmadd_ps(col[j], wv, acc[p]);
      }
    }
  }
  float* o = out + x0 * channels + c;
  StoreThroughOp<Avx512Vec, P, __m512>(
      a.store_op, [&](size_t p) { return DepthwiseValue(acc[p], add, lo, hi); },
      [&](size_t p, __m512 v) { _mm512_storeu_ps(o + p * channels, v); });
}

// Channels outermost: one 16-channel slice of every row of the call, so the
// kernel rows a slice needs (a few hundred bytes each) stay in L1 from one
// output row to the next; each input line comes from L2 once per call.
template <size_t KW, size_t kP, size_t S>
[[gnu::noinline]] void DepthwiseImageRowsKw(const DepthwiseImageRowsArgs& a) {
  constexpr size_t kColumns = kSegmentColumns<KW, kP, S>;
  const __m512 lo = _mm512_set1_ps(a.out_min), hi = _mm512_set1_ps(a.out_max);
  const size_t width = a.output_width;
  for (size_t c = 0; c < a.channels; c += 16) {
    const bool full = a.channels - c >= 16;
    const __mmask16 mask = WidthMask(std::min<size_t>(16, a.channels - c));
    const __m512 add = _mm512_maskz_loadu_ps(mask, a.add_bias + c);
    for (size_t r = 0; r < a.rows; ++r) {
      const float* const* rows = a.input_rows + r * S;
      float* out = a.output_rows[r];
      size_t x0 = 0;
      if (full) {
        for (; x0 + kP <= width; x0 += kP) {
          const size_t left = a.pad_left > S * x0 ? a.pad_left - S * x0 : 0;
          const size_t end = S * x0 + kColumns;  // one past the segment's last column, + pad_left
          const size_t right = end > a.input_width + a.pad_left ? end - a.input_width - a.pad_left : 0;
          const size_t code = left * 3 + right;
          if (left > 2 || right > 2 || left + right >= kColumns) break;
          switch (code) {
            case 0: DepthwiseImageSlice<KW, kP, S, 0, 0>(a, rows, c, x0, out, add, lo, hi); break;
            case 1: DepthwiseImageSlice<KW, kP, S, 0, 1>(a, rows, c, x0, out, add, lo, hi); break;
            case 3: DepthwiseImageSlice<KW, kP, S, 1, 0>(a, rows, c, x0, out, add, lo, hi); break;
            case 4: DepthwiseImageSlice<KW, kP, S, 1, 1>(a, rows, c, x0, out, add, lo, hi); break;
            default:
              if constexpr (KW == 5) {
                switch (code) {
                  case 2: DepthwiseImageSlice<KW, kP, S, 0, 2>(a, rows, c, x0, out, add, lo, hi); break;
                  case 5: DepthwiseImageSlice<KW, kP, S, 1, 2>(a, rows, c, x0, out, add, lo, hi); break;
                  case 6: DepthwiseImageSlice<KW, kP, S, 2, 0>(a, rows, c, x0, out, add, lo, hi); break;
                  case 7: DepthwiseImageSlice<KW, kP, S, 2, 1>(a, rows, c, x0, out, add, lo, hi); break;
                  default: DepthwiseImageSlice<KW, kP, S, 2, 2>(a, rows, c, x0, out, add, lo, hi); break;
                }
              } else {
                DepthwiseImageSegment<KW, kP, S, true>(a, rows, c, mask, x0, out, add, lo, hi);
              }
          }
        }
      }
      // The rest (a slice's channel tail, a row's last pixels) with masked loads.
      for (; x0 < width;) {
        const size_t pixels = std::min(kP, width - x0);
        WithBlockRows<kP>(pixels, [&](auto n) {
          if (full) {
            DepthwiseImageSegment<KW, decltype(n)::value, S, true>(a, rows, c, mask, x0, out, add, lo, hi);
          } else {
            DepthwiseImageSegment<KW, decltype(n)::value, S, false>(a, rows, c, mask, x0, out, add, lo, hi);
          }
        });
        x0 += pixels;
      }
    }
  }
}

// Segments of 7 pixels for rows of 7, 14, 28 (and 7k not a multiple of 8):
// whole segments only, none of them with masked loads. MobileNetV2's 14x14x384
// layer alone 101 -> 115 GFLOP/s, 7x7x960 81 -> 116; 8 stays better on 56 and 112.
bool SevenWide(const DepthwiseImageRowsArgs& args) {
  return args.output_width % 7 == 0 && args.output_width % 8 != 0;
}

// The instance for the call's segment width and stride.
template <size_t KW>
void DepthwiseImageRowsWidth(const DepthwiseImageRowsArgs& args) {
  if (args.stride == 2) {
    SevenWide(args) ? DepthwiseImageRowsKw<KW, 7, 2>(args) : DepthwiseImageRowsKw<KW, 8, 2>(args);
  } else {
    SevenWide(args) ? DepthwiseImageRowsKw<KW, 7, 1>(args) : DepthwiseImageRowsKw<KW, 8, 1>(args);
  }
}

}  // namespace

void DepthwiseRowsAvx512(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  if (multiplier != 1) {
    DepthwiseRowsScalar(args, in_channels, multiplier);
    return;
  }
  const __m512 lo = _mm512_set1_ps(args.out_min);
  const __m512 hi = _mm512_set1_ps(args.out_max);
  switch (RowStride(args) == args.taps ? args.taps : 0) {
    case 9: DepthwiseRowsTaps<9>(args, in_channels, lo, hi); break;
    case 25: DepthwiseRowsTaps<25>(args, in_channels, lo, hi); break;
    default: DepthwiseRowsTaps<0>(args, in_channels, lo, hi); break;
  }
}

void DepthwiseImageRowsAvx512(const DepthwiseImageRowsArgs& args) {
  if (args.kernel_width == 3) {
    DepthwiseImageRowsWidth<3>(args);
  } else if (args.kernel_width == 5) {
    DepthwiseImageRowsWidth<5>(args);
  }
}

}  // namespace kernels
}  // namespace actsparse
