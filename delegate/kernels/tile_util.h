// ISA-independent pieces shared by the micro-kernel files: the per-tile
// bias bookkeeping, the dispatch on register block height, the igemm's
// stepping through a call's rows in blocks, the pixel blocking and scalar
// channel tail of the depthwise kernels, and the activations they apply as
// they store (StoreOp).
// Header-only and inline so each ISA file compiles them with its own flags.
#ifndef ACTSPARSE_DELEGATE_KERNELS_TILE_UTIL_H_
#define ACTSPARSE_DELEGATE_KERNELS_TILE_UTIL_H_

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "delegate/kernels/elementwise_impl.h"
#include "delegate/kernels/simd_vec.h"
#include "delegate/kernels/sparse_conv_kernels.h"

namespace actsparse {
namespace kernels {

// The biases of output channels [c0, c0 + width) zero-padded to a whole
// tile, so an epilogue can always load kConvTile lanes.
struct TileBias {
  alignas(32) float conv[kConvTile];
  alignas(32) float add[kConvTile];

  void Load(const RowsArgs& args, size_t c0, size_t width) {
    std::fill(conv, conv + kConvTile, 0.0f);
    std::fill(add, add + kConvTile, 0.0f);
    std::copy(args.conv_bias + c0, args.conv_bias + c0 + width, conv);
    std::copy(args.add_bias + c0, args.add_bias + c0 + width, add);
  }
};

// StoreOp `op` on one vector of V (simd_vec.h) of a kernel's outputs: as
// the elementwise kernels' UnaryRun with default UnaryParams computes it
// (whose clamp then clamps nothing).
template <class V>
inline typename V::F ApplyStoreOp(typename V::F v, StoreOp op) {
  using elementwise_impl::ApplyUnary;
  const typename V::F alpha = V::Splat(0.0f);
  switch (op) {
    case StoreOp::kHardSwish:
      return ApplyUnary<V, UnaryOp::kHardSwish>(v, alpha);
    case StoreOp::kSilu:
      return ApplyUnary<V, UnaryOp::kSilu>(v, alpha);
    case StoreOp::kNone:
      break;
  }
  return v;
}

// StoreOp `op` (not kNone) on `count` vectors in place: one call per block
// of a kernel's outputs, the op's loop free of branches, so that a heavy op
// (SiLU: an exp and a division) overlaps from one vector to the next. Out of
// line, so the kernels' epilogues keep one copy of it.
template <class V>
[[gnu::noinline]] void ApplyStoreOpToVectors(typename V::F* v, size_t count, StoreOp op) {
  switch (op) {
    case StoreOp::kHardSwish:
      for (size_t i = 0; i < count; ++i) v[i] = ApplyStoreOp<V>(v[i], StoreOp::kHardSwish);
      return;
    case StoreOp::kSilu:
      for (size_t i = 0; i < count; ++i) v[i] = ApplyStoreOp<V>(v[i], StoreOp::kSilu);
      return;
    case StoreOp::kNone:
      return;
  }
}

// Stores kCount output vectors, value(i) to store(i, vector), through the
// StoreOp: with kNone straight from the registers; else gathered first and
// handed to ApplyStoreOpToVectors in one call (with a call per vector, an
// EfficientNet-like net at 1 thread ran 2.02 ms, 1.95 so; most of the rest
// of SiLU's cost is its exp). `Reg` is the kernel's register type (__m512,
// __m256, float32x4_t), a bit cast of V::F.
template <class V, size_t kCount, class Reg, class Value, class Store>
[[gnu::always_inline]] inline void StoreThroughOp(StoreOp op, Value&& value, Store&& store) {
  if (op == StoreOp::kNone) {
#pragma GCC unroll 20
    for (size_t i = 0; i < kCount; ++i) store(i, value(i));
    return;
  }
  typename V::F v[kCount];
#pragma GCC unroll 20
  for (size_t i = 0; i < kCount; ++i) v[i] = (typename V::F)(value(i));
  ApplyStoreOpToVectors<V>(v, kCount, op);
#pragma GCC unroll 20
  for (size_t i = 0; i < kCount; ++i) store(i, (Reg)(v[i]));
}

// One output channel of a depthwise row (multiplier 1), for the channels a
// vector loop leaves over.
inline float DepthwiseChannel(const RowsArgs& args, const float* const* taps, size_t channels,
                              size_t c) {
  float acc = 0.0f;
  for (size_t t = 0; t < args.taps; ++t) acc += taps[t][c] * args.packed_weights[t * channels + c];
  const float v = std::min(std::max((acc + args.conv_bias[c]) + args.add_bias[c], args.out_min), args.out_max);
  return ApplyStoreOp<ScalarVec>(v, args.store_op);
}

// Calls fn(std::integral_constant<size_t, rows>{}) for 1 <= rows <= kMax, so
// a kernel's register block height is a compile-time constant; else nothing.
template <size_t kMax, typename Fn>
inline void WithBlockRows(size_t rows, Fn&& fn) {
  if constexpr (kMax > 0) {
    if (rows == kMax) {
      fn(std::integral_constant<size_t, kMax>{});
    } else {
      WithBlockRows<kMax - 1>(rows, fn);
    }
  }
}

// One output channel of pixel x of one output row, for the channels the
// vector loop leaves over (as DepthwiseChannel: a padding tap adds nothing).
inline float DepthwiseImageChannel(const DepthwiseImageRowsArgs& a, const float* const* rows, size_t x, size_t c) {
  float acc = 0.0f;
  for (size_t ky = 0; ky < a.kernel_height; ++ky) {
    if (rows[ky] == nullptr) continue;
    for (size_t kx = 0; kx < a.kernel_width; ++kx) {
      const size_t ix = a.stride * x + kx;
      if (ix < a.pad_left || ix - a.pad_left >= a.input_width) continue;
      acc += rows[ky][(ix - a.pad_left) * a.channels + c] * a.weights[(ky * a.kernel_width + kx) * a.channels + c];
    }
  }
  const float v = std::min(std::max((acc + a.conv_bias[c]) + a.add_bias[c], a.out_min), a.out_max);
  return ApplyStoreOp<ScalarVec>(v, a.store_op);
}

// Input columns a segment of P output pixels of an image-rows depthwise
// kernel reads at kernel width KW and stride S: output pixel p, kernel
// column kx reads the segment's column S * p + kx.
template <size_t KW, size_t P, size_t S>
constexpr size_t kSegmentColumns = S * (P - 1) + KW;

// Whether all S * (pixels - 1) + KW input columns of the segment of
// `pixels` output pixels from x0 lie inside the input row.
template <size_t KW, size_t S>
inline bool ImageRowSegmentInside(const DepthwiseImageRowsArgs& a, size_t x0, size_t pixels) {
  return S * x0 >= a.pad_left && S * x0 + S * (pixels - 1) + KW <= a.input_width + a.pad_left;
}

// Steps one output row of an image-rows depthwise kernel (kernel width KW,
// stride S) in segments of kP output pixels from x0, then one of the 1 to
// kP - 1 left: segment(std::integral_constant<size_t, P>,
// std::bool_constant<kEdges>, x0), kEdges when some of the segment's
// S * (P - 1) + KW input columns lie outside the input row (the kernel reads
// zeros there).
template <size_t kP, size_t KW, size_t S, typename Segment>
inline void ForEachImageRowSegment(const DepthwiseImageRowsArgs& a, Segment&& segment) {
  const size_t width = a.output_width;
  size_t x0 = 0;
  for (; x0 + kP <= width; x0 += kP) {
    if (ImageRowSegmentInside<KW, S>(a, x0, kP)) {
      segment(std::integral_constant<size_t, kP>{}, std::false_type{}, x0);
    } else {
      segment(std::integral_constant<size_t, kP>{}, std::true_type{}, x0);
    }
  }
  WithBlockRows<kP - 1>(width - x0, [&](auto pixels) { segment(pixels, std::true_type{}, x0); });
}

// Depthwise kernels compute this many output pixels per step (AVX2, NEON;
// AVX-512 takes kDepthwisePixelsAvx512).
constexpr size_t kDepthwisePixels = 4;
// 6 x 32 channels: 12 accumulators, each weight pair serves 6 pixels. 1.15-1.3x
// the 4-pixel step alone on Zen 5 (MobileNetV2's 14x14 layer 74 -> 88 GFLOP/s);
// 5 and 7 were no better.
constexpr size_t kDepthwisePixelsAvx512 = 6;

// Calls block(std::integral_constant<size_t, P>{}, first_row) over `rows`
// output rows: blocks of kPixels, then one block of the 1 to kPixels - 1 left.
template <size_t kPixels = kDepthwisePixels, typename Block>
inline void ForEachDepthwiseBlock(size_t rows, Block&& block) {
  size_t r = 0;
  for (; r + kPixels <= rows; r += kPixels) block(std::integral_constant<size_t, kPixels>{}, r);
  WithBlockRows<kPixels - 1>(rows - r, [&](auto pixels) { block(pixels, r); });
}

// Rows split into as few blocks of at most `max_rows` as possible, their
// heights balanced (34 rows in blocks of 6: four of 6 and two of 5) rather
// than a ragged last block; or (Split) a total in `parts` shares that differ
// by at most one. Divides once, not once per block.
struct BalancedBlocks {
  size_t count, base_rows, taller;
  BalancedBlocks(size_t rows, size_t max_rows)
      : count((rows + max_rows - 1) / max_rows),
        base_rows(count ? rows / count : 0),
        taller(count ? rows % count : 0) {}
  static BalancedBlocks Split(size_t total, size_t parts) {
    BalancedBlocks b(0, 1);
    b.count = parts;
    b.base_rows = parts ? total / parts : 0;
    b.taller = parts ? total % parts : 0;
    return b;
  }
  // Rows of block i; the first `taller` blocks have one more.
  size_t rows(size_t i) const { return i < taller ? base_rows + 1 : base_rows; }
};

// One register block of an igemm call: its rows [first_row, first_row +
// rows) of the call's, and its share of the call's prefetch lines.
struct IgemmRowBlock {
  size_t first_row, rows;
  const char* prefetch;
  size_t prefetch_lines;
};

// Steps an igemm call's rows in balanced blocks of at most kRows (49 rows
// in blocks of 6: four of 6 and five of 5, not eight of 6 and one of 1,
// which streams every weight for one row), calling block(IgemmRowBlock)
// for each; each block prefetches its share of the next call's lines, so
// the prefetches stay spread over the call. A call of at most kRows rows
// skips the split's divisions: with a short reduction (a 1x1 conv in a 7x7
// layer) they are a sizeable share of it.
template <size_t kRows, typename Block>
inline void ForEachIgemmRowBlock(const IgemmArgs& a, Block&& block) {
  const char* next = reinterpret_cast<const char*>(a.prefetch);
  if (a.rows <= kRows) {
    if (a.rows != 0) block(IgemmRowBlock{0, a.rows, next, a.prefetch_lines});
    return;
  }
  const BalancedBlocks blocks(a.rows, kRows);
  const BalancedBlocks line_shares = BalancedBlocks::Split(a.prefetch_lines, blocks.count);
  for (size_t b = 0, r0 = 0; b < blocks.count; ++b) {
    const size_t rows = blocks.rows(b), lines = line_shares.rows(b);
    block(IgemmRowBlock{r0, rows, next, lines});
    r0 += rows;
    next += lines * 64;
  }
}

// For a kernel whose block function fn(std::integral_constant<size_t, R>,
// const IgemmArgs&) takes R <= kRows rows through pointers: any rows, in
// blocks. Each block gets the call's args from its first row (one copy per
// call, a few fields per block) or, for rows by arithmetic
// (IgemmArgs::direct_*_stride), pointers built for its rows.
template <size_t kRows, typename BlockFn>
inline void IgemmInBlocks(const IgemmArgs& a, BlockFn&& fn) {
  IgemmArgs block = a;
  const float* inputs[kRows];
  float* outputs[kRows];
  const bool direct = a.direct_input_stride != 0;
  if (direct) {
    block.indirection = inputs;
    block.outputs = outputs;
    block.indirection_stride = 1;
    block.direct_input_stride = 0;
    block.direct_output_stride = 0;
  }
  const size_t row_stride = a.indirection_stride ? a.indirection_stride : a.taps;
  ForEachIgemmRowBlock<kRows>(a, [&](const IgemmRowBlock& b) {
    block.rows = b.rows;
    block.prefetch = reinterpret_cast<const float*>(b.prefetch);
    block.prefetch_lines = b.prefetch_lines;
    if (direct) {
      for (size_t r = 0; r < b.rows; ++r) {
        inputs[r] = a.indirection[0] + (b.first_row + r) * a.direct_input_stride;
        outputs[r] = a.outputs[0] + (b.first_row + r) * a.direct_output_stride;
      }
    } else {
      block.indirection = a.indirection + b.first_row * row_stride;
      block.outputs = a.outputs + b.first_row;
    }
    WithBlockRows<kRows>(b.rows, [&](auto rows) { fn(rows, block); });
  });
}

}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_TILE_UTIL_H_
