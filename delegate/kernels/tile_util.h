// ISA-independent pieces shared by the SIMD micro-kernel files: the per-tile
// bias bookkeeping, the dispatch on register block height, and the pixel blocking and scalar channel tail of the
// depthwise kernels.
// Header-only and inline so each ISA file compiles them with its own flags.
#ifndef ACTSPARSE_DELEGATE_KERNELS_TILE_UTIL_H_
#define ACTSPARSE_DELEGATE_KERNELS_TILE_UTIL_H_

#include <algorithm>
#include <cstddef>
#include <type_traits>

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

// One output channel of a depthwise row (multiplier 1), for the channels a
// vector loop leaves over.
inline float DepthwiseChannel(const RowsArgs& args, const float* const* taps, size_t channels,
                              size_t c) {
  float acc = 0.0f;
  for (size_t t = 0; t < args.taps; ++t) acc += taps[t][c] * args.packed_weights[t * channels + c];
  const float v = (acc + args.conv_bias[c]) + args.add_bias[c];
  return std::min(std::max(v, args.out_min), args.out_max);
}

// Depthwise kernels compute this many output pixels per step.
constexpr size_t kDepthwisePixels = 4;

// Calls block(std::integral_constant<size_t, P>{}, first_row) over `rows`
// output rows: blocks of kDepthwisePixels, then one block of the 1-3 left.
template <typename Block>
inline void ForEachDepthwiseBlock(size_t rows, Block&& block) {
  size_t r = 0;
  for (; r + kDepthwisePixels <= rows; r += kDepthwisePixels) {
    block(std::integral_constant<size_t, kDepthwisePixels>{}, r);
  }
  switch (rows - r) {
    case 3: block(std::integral_constant<size_t, 3>{}, r); break;
    case 2: block(std::integral_constant<size_t, 2>{}, r); break;
    case 1: block(std::integral_constant<size_t, 1>{}, r); break;
    default: break;
  }
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

}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_TILE_UTIL_H_
