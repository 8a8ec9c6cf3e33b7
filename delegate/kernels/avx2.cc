// AVX2 + FMA micro-kernel for the regular sparse conv: 6 output pixels x 16
// output channels per block, 12 accumulators in registers. Each (tap, input
// channel) step loads one 16-wide weight row and broadcasts one input value
// per pixel. Compiled with -mavx2 -mfma; selected at run time (dispatch.cc).
#include <immintrin.h>

#include <algorithm>

#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/kernels/tile_util.h"

namespace actsparse {
namespace kernels {
namespace {

constexpr size_t kRows = 6;

// Loads a row's partial sums of channels [c0, c0 + width) (or zeros).
inline void LoadAcc(const RowsArgs& args, const float* out, size_t width, __m256* acc0, __m256* acc1) {
  if (!args.accumulate) {
    *acc0 = _mm256_setzero_ps();
    *acc1 = _mm256_setzero_ps();
  } else if (width == kConvTile) {
    *acc0 = _mm256_loadu_ps(out);
    *acc1 = _mm256_loadu_ps(out + 8);
  } else {
    alignas(32) float tmp[kConvTile] = {};
    std::copy(out, out + width, tmp);
    *acc0 = _mm256_load_ps(tmp);
    *acc1 = _mm256_load_ps(tmp + 8);
  }
}

// Stores a row's sums: through biases and the clamp on the last tap block,
// raw otherwise. Only `width` channels are written.
inline void StoreAcc(const RowsArgs& args, __m256 acc0, __m256 acc1, const TileBias& bias, __m256 lo,
                     __m256 hi, float* out, size_t width) {
  if (args.finish) {
    acc0 = _mm256_add_ps(_mm256_add_ps(acc0, _mm256_load_ps(bias.conv)), _mm256_load_ps(bias.add));
    acc1 = _mm256_add_ps(_mm256_add_ps(acc1, _mm256_load_ps(bias.conv + 8)), _mm256_load_ps(bias.add + 8));
    acc0 = _mm256_min_ps(_mm256_max_ps(acc0, lo), hi);
    acc1 = _mm256_min_ps(_mm256_max_ps(acc1, lo), hi);
  }
  if (width == kConvTile) {
    _mm256_storeu_ps(out, acc0);
    _mm256_storeu_ps(out + 8, acc1);
  } else {
    alignas(32) float tmp[kConvTile];
    _mm256_store_ps(tmp, acc0);
    _mm256_store_ps(tmp + 8, acc1);
    std::copy(tmp, tmp + width, out);
  }
}

}  // namespace

void ConvRowsAvx2(const RowsArgs& args, size_t in_channels, size_t out_channels) {
  const size_t row_stride = RowStride(args);
  const size_t tile_stride = WeightsTileStride(args, in_channels);
  const __m256 lo = _mm256_set1_ps(args.out_min);
  const __m256 hi = _mm256_set1_ps(args.out_max);
  TileBias bias;
  for (size_t c0 = 0; c0 < out_channels; c0 += kConvTile) {
    const size_t width = std::min(kConvTile, out_channels - c0);
    bias.Load(args, c0, width);
    const float* tile = args.packed_weights + (c0 / kConvTile) * tile_stride;
    for (size_t r0 = 0; r0 < args.rows; r0 += kRows) {
      const size_t rows = std::min(kRows, args.rows - r0);
      const float* const* ind = args.indirection + r0 * row_stride;
      float* const* out = args.outputs + r0;
      // Rows past the block's end compute row 0 again; their sums are dropped.
      __m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
      LoadAcc(args, out[0] + c0, width, &a00, &a01);
      LoadAcc(args, out[rows > 1 ? 1 : 0] + c0, width, &a10, &a11);
      LoadAcc(args, out[rows > 2 ? 2 : 0] + c0, width, &a20, &a21);
      LoadAcc(args, out[rows > 3 ? 3 : 0] + c0, width, &a30, &a31);
      LoadAcc(args, out[rows > 4 ? 4 : 0] + c0, width, &a40, &a41);
      LoadAcc(args, out[rows > 5 ? 5 : 0] + c0, width, &a50, &a51);
      const float* w = tile;
      for (size_t t = 0; t < args.taps; ++t) {
        const size_t o = args.input_offset;
        const float* i0 = ind[t] + o;
        const float* i1 = rows > 1 ? ind[row_stride + t] + o : i0;
        const float* i2 = rows > 2 ? ind[2 * row_stride + t] + o : i0;
        const float* i3 = rows > 3 ? ind[3 * row_stride + t] + o : i0;
        const float* i4 = rows > 4 ? ind[4 * row_stride + t] + o : i0;
        const float* i5 = rows > 5 ? ind[5 * row_stride + t] + o : i0;
        for (size_t ci = 0; ci < in_channels; ++ci, w += kConvTile) {
          const __m256 w0 = _mm256_loadu_ps(w);
          const __m256 w1 = _mm256_loadu_ps(w + 8);
          __m256 x = _mm256_broadcast_ss(i0 + ci);
          a00 = _mm256_fmadd_ps(x, w0, a00); a01 = _mm256_fmadd_ps(x, w1, a01);
          x = _mm256_broadcast_ss(i1 + ci);
          a10 = _mm256_fmadd_ps(x, w0, a10); a11 = _mm256_fmadd_ps(x, w1, a11);
          x = _mm256_broadcast_ss(i2 + ci);
          a20 = _mm256_fmadd_ps(x, w0, a20); a21 = _mm256_fmadd_ps(x, w1, a21);
          x = _mm256_broadcast_ss(i3 + ci);
          a30 = _mm256_fmadd_ps(x, w0, a30); a31 = _mm256_fmadd_ps(x, w1, a31);
          x = _mm256_broadcast_ss(i4 + ci);
          a40 = _mm256_fmadd_ps(x, w0, a40); a41 = _mm256_fmadd_ps(x, w1, a41);
          x = _mm256_broadcast_ss(i5 + ci);
          a50 = _mm256_fmadd_ps(x, w0, a50); a51 = _mm256_fmadd_ps(x, w1, a51);
        }
      }
      StoreAcc(args, a00, a01, bias, lo, hi, out[0] + c0, width);
      if (rows > 1) StoreAcc(args, a10, a11, bias, lo, hi, out[1] + c0, width);
      if (rows > 2) StoreAcc(args, a20, a21, bias, lo, hi, out[2] + c0, width);
      if (rows > 3) StoreAcc(args, a30, a31, bias, lo, hi, out[3] + c0, width);
      if (rows > 4) StoreAcc(args, a40, a41, bias, lo, hi, out[4] + c0, width);
      if (rows > 5) StoreAcc(args, a50, a51, bias, lo, hi, out[5] + c0, width);
    }
  }
}

namespace {

// Biases and clamp on 8 channels of one depthwise output row.
inline void DepthwiseStore(const RowsArgs& args, __m256 acc, size_t c, __m256 lo, __m256 hi, float* out) {
  const __m256 v = _mm256_add_ps(_mm256_add_ps(acc, _mm256_loadu_ps(args.conv_bias + c)),
                                 _mm256_loadu_ps(args.add_bias + c));
  _mm256_storeu_ps(out + c, _mm256_min_ps(_mm256_max_ps(v, lo), hi));
}

// One output row, 32 channels per step: four independent FMA chains hide the latency.
void DepthwiseOne(const RowsArgs& args, size_t row, size_t channels, __m256 lo, __m256 hi) {
  const float* const* taps = args.indirection + row * RowStride(args);
  float* out = args.outputs[row];
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < args.taps; ++t, w += channels) {
      const float* in = taps[t] + c;
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(in), _mm256_loadu_ps(w), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(in + 8), _mm256_loadu_ps(w + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(in + 16), _mm256_loadu_ps(w + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(in + 24), _mm256_loadu_ps(w + 24), a3);
    }
    DepthwiseStore(args, a0, c, lo, hi, out);
    DepthwiseStore(args, a1, c + 8, lo, hi, out);
    DepthwiseStore(args, a2, c + 16, lo, hi, out);
    DepthwiseStore(args, a3, c + 24, lo, hi, out);
  }
  for (; c + 8 <= channels; c += 8) {
    __m256 a = _mm256_setzero_ps();
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < args.taps; ++t, w += channels) {
      a = _mm256_fmadd_ps(_mm256_loadu_ps(taps[t] + c), _mm256_loadu_ps(w), a);
    }
    DepthwiseStore(args, a, c, lo, hi, out);
  }
  for (; c < channels; ++c) out[c] = DepthwiseChannel(args, taps, channels, c);
}

// Two output rows at once, 32 channels per step: each weight vector loaded
// serves both pixels (a depthwise conv is load-bound); 8 accumulators.
void DepthwiseTwo(const RowsArgs& args, size_t row, size_t channels, __m256 lo, __m256 hi) {
  const float* const* ta = args.indirection + row * RowStride(args);
  const float* const* tb = ta + RowStride(args);
  float* oa = args.outputs[row];
  float* ob = args.outputs[row + 1];
  size_t c = 0;
  for (; c + 32 <= channels; c += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < args.taps; ++t, w += channels) {
      const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
      const __m256 w2 = _mm256_loadu_ps(w + 16), w3 = _mm256_loadu_ps(w + 24);
      const float* ia = ta[t] + c;
      const float* ib = tb[t] + c;
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(ia), w0, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(ia + 8), w1, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(ia + 16), w2, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(ia + 24), w3, a3);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(ib), w0, b0);
      b1 = _mm256_fmadd_ps(_mm256_loadu_ps(ib + 8), w1, b1);
      b2 = _mm256_fmadd_ps(_mm256_loadu_ps(ib + 16), w2, b2);
      b3 = _mm256_fmadd_ps(_mm256_loadu_ps(ib + 24), w3, b3);
    }
    DepthwiseStore(args, a0, c, lo, hi, oa);
    DepthwiseStore(args, a1, c + 8, lo, hi, oa);
    DepthwiseStore(args, a2, c + 16, lo, hi, oa);
    DepthwiseStore(args, a3, c + 24, lo, hi, oa);
    DepthwiseStore(args, b0, c, lo, hi, ob);
    DepthwiseStore(args, b1, c + 8, lo, hi, ob);
    DepthwiseStore(args, b2, c + 16, lo, hi, ob);
    DepthwiseStore(args, b3, c + 24, lo, hi, ob);
  }
  for (; c + 8 <= channels; c += 8) {
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    const float* w = args.packed_weights + c;
    for (size_t t = 0; t < args.taps; ++t, w += channels) {
      const __m256 wv = _mm256_loadu_ps(w);
      a = _mm256_fmadd_ps(_mm256_loadu_ps(ta[t] + c), wv, a);
      b = _mm256_fmadd_ps(_mm256_loadu_ps(tb[t] + c), wv, b);
    }
    DepthwiseStore(args, a, c, lo, hi, oa);
    DepthwiseStore(args, b, c, lo, hi, ob);
  }
  for (; c < channels; ++c) {
    oa[c] = DepthwiseChannel(args, ta, channels, c);
    ob[c] = DepthwiseChannel(args, tb, channels, c);
  }
}

}  // namespace

void DepthwiseRowsAvx2(const RowsArgs& args, size_t in_channels, size_t multiplier) {
  if (multiplier != 1) {
    DepthwiseRowsScalar(args, in_channels, multiplier);
    return;
  }
  const __m256 lo = _mm256_set1_ps(args.out_min);
  const __m256 hi = _mm256_set1_ps(args.out_max);
  size_t r = 0;
  for (; r + 2 <= args.rows; r += 2) DepthwiseTwo(args, r, in_channels, lo, hi);
  if (r < args.rows) DepthwiseOne(args, r, in_channels, lo, hi);
}

}  // namespace kernels
}  // namespace actsparse
