// Micro-kernels against each other: every SIMD kernel this CPU runs must agree
// with the scalar kernel on random rows, shapes and tile tails.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/kernels/sparse_conv_kernels.h"

namespace actsparse {
namespace kernels {
namespace {

// taps_per_call < taps runs the reduction in tap blocks, as the operator does.
std::vector<float> RunConv(ConvRowsFn fn, size_t rows, size_t taps, size_t cin, size_t cout,
                           unsigned seed, size_t taps_per_call = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> pixels((rows * taps + 1) * cin);
  for (float& v : pixels) v = normal(rng);
  std::vector<const float*> indirection(rows * taps);
  for (size_t i = 0; i < indirection.size(); ++i) indirection[i] = &pixels[(rng() % (rows * taps + 1)) * cin];
  std::vector<float> ohwi(cout * taps * cin), cb(cout), ab(cout);
  for (float& v : ohwi) v = normal(rng);
  for (float& v : cb) v = normal(rng);
  for (float& v : ab) v = normal(rng);
  std::vector<float> packed(PackedConvWeightsSize(taps, cin, cout));
  PackConvWeights(ohwi.data(), taps, cin, cout, packed.data());
  std::vector<float> out(rows * (cout + 3), -7.0f);  // row stride > cout: tails must not spill
  std::vector<float*> outputs(rows);
  for (size_t r = 0; r < rows; ++r) outputs[r] = &out[r * (cout + 3)];
  RowsArgs args{rows, taps, indirection.data(), outputs.data(), packed.data(), cb.data(), ab.data(),
                -1.5f, 2.5f};
  if (taps_per_call == 0) {
    fn(args, cin, cout);
    return out;
  }
  args.indirection_stride = taps;
  args.weights_tile_stride = taps * cin * kConvTile;
  for (size_t tap = 0; tap < taps; tap += taps_per_call) {
    args.taps = std::min(taps_per_call, taps - tap);
    args.indirection = indirection.data() + tap;
    args.packed_weights = packed.data() + tap * cin * kConvTile;
    args.accumulate = tap > 0;
    args.finish = tap + args.taps == taps;
    fn(args, cin, cout);
  }
  return out;
}

TEST(KernelsTest, PackedScalarMatchesDirectSum) {
  // One row, one tap: out = clamp(sum_ci x*w + cb + ab).
  const size_t cin = 3, cout = 2;
  const float x[cin] = {1, 2, 3};
  const float* ind[1] = {x};
  const float ohwi[cout * cin] = {1, 0, 0, 0, 1, 1};
  std::vector<float> packed(PackedConvWeightsSize(1, cin, cout));
  PackConvWeights(ohwi, 1, cin, cout, packed.data());
  float out[cout];
  float* outputs[1] = {out};
  const float cb[cout] = {0.5f, 0}, ab[cout] = {0, -1};
  RowsArgs args{1, 1, ind, outputs, packed.data(), cb, ab, -100, 100};
  ConvRowsScalar(args, cin, cout);
  EXPECT_FLOAT_EQ(out[0], 1.5f);
  EXPECT_FLOAT_EQ(out[1], 4.0f);
}

TEST(KernelsTest, SelectedKernelMatchesScalar) {
  const char* name = nullptr;
  ConvRowsFn selected = SelectConvRows(&name);
  std::printf("selected conv kernel: %s\n", name);
  unsigned seed = 1;
  for (size_t rows : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17, 27, 32, 34})
    for (size_t taps : {1, 9})
      for (size_t cin : {1, 3, 4, 5, 8, 11, 16})
        for (size_t cout : {1, 7, 16, 17, 40}) {
          SCOPED_TRACE(testing::Message() << "rows=" << rows << " taps=" << taps << " cin=" << cin << " cout=" << cout);
          const std::vector<float> ref = RunConv(ConvRowsScalar, rows, taps, cin, cout, seed);
          const std::vector<float> got = RunConv(selected, rows, taps, cin, cout, seed);
          ++seed;
          for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-4f * (1 + std::fabs(ref[i])));
        }
}

TEST(KernelsTest, TapBlocksGiveTheSameBitsAsOneCall) {
  // Partial sums stored in the output rows and reloaded are fp32 either way,
  // so blocking the reduction must not change a single bit.
  const char* name = nullptr;
  ConvRowsFn selected = SelectConvRows(&name);
  unsigned seed = 900;
  for (ConvRowsFn fn : {ConvRowsScalar, selected})
    for (size_t rows : {1, 6, 7, 20})
      for (size_t cout : {5, 16, 33})
        for (size_t block : {1, 2, 4}) {
          SCOPED_TRACE(testing::Message() << "rows=" << rows << " cout=" << cout << " block=" << block);
          const std::vector<float> whole = RunConv(fn, rows, 9, 12, cout, seed);
          const std::vector<float> blocked = RunConv(fn, rows, 9, 12, cout, seed, block);
          ++seed;
          ASSERT_EQ(whole, blocked);
        }
}

// The operator splits a long reduction into blocks of input channels: each
// call reads channels [offset, offset + block) of every pixel (input_offset)
// and adds to the partial sums the previous call stored. Blocks of any width
// (here not multiples of the NEON kernel's four-channel groups) must give
// the same bits as one call.
TEST(KernelsTest, ChannelBlocksGiveTheSameBitsAsOneCall) {
  const char* name = nullptr;
  ConvRowsFn selected = SelectConvRows(&name);
  unsigned seed = 1700;
  for (ConvRowsFn fn : {ConvRowsScalar, selected})
    for (size_t rows : {1, 4, 5, 13})
      for (size_t block : {3, 5, 8, 13}) {
        SCOPED_TRACE(testing::Message() << "rows=" << rows << " block=" << block);
        const size_t taps = 1, cin = 21, cout = 20;
        std::mt19937 rng(seed++);
        std::normal_distribution<float> normal;
        std::vector<float> pixels(rows * cin), ohwi(cout * cin), cb(cout), ab(cout);
        for (float& v : pixels) v = normal(rng);
        for (float& v : ohwi) v = normal(rng);
        for (float& v : cb) v = normal(rng);
        for (float& v : ab) v = normal(rng);
        std::vector<float> packed(PackedConvWeightsSize(taps, cin, cout));
        PackConvWeights(ohwi.data(), taps, cin, cout, packed.data());
        std::vector<const float*> indirection(rows);
        for (size_t r = 0; r < rows; ++r) indirection[r] = &pixels[r * cin];
        std::vector<float> whole(rows * cout), blocked(rows * cout);
        std::vector<float*> whole_rows(rows), blocked_rows(rows);
        for (size_t r = 0; r < rows; ++r) {
          whole_rows[r] = &whole[r * cout];
          blocked_rows[r] = &blocked[r * cout];
        }
        RowsArgs args{rows, taps, indirection.data(), whole_rows.data(), packed.data(), cb.data(), ab.data(),
                      -1.5f, 2.5f};
        fn(args, cin, cout);
        args.outputs = blocked_rows.data();
        args.weights_tile_stride = taps * cin * kConvTile;
        for (size_t c = 0; c < cin; c += block) {
          const size_t width = std::min(block, cin - c);
          args.input_offset = c;
          args.packed_weights = packed.data() + c * kConvTile;
          args.accumulate = c > 0;
          args.finish = c + width == cin;
          fn(args, width, cout);
        }
        ASSERT_EQ(whole, blocked);
      }
}

// `pad_pointers`: extra pointers between one row's taps and the next row's
// (RowsArgs::indirection_stride = taps + pad_pointers).
std::vector<float> RunDepthwise(DepthwiseRowsFn fn, size_t rows, size_t taps, size_t cin,
                                size_t multiplier, unsigned seed, size_t pad_pointers = 0,
                                StoreOp store_op = StoreOp::kNone) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const size_t cout = cin * multiplier;
  std::vector<float> pixels((rows * taps + 1) * cin);
  for (float& v : pixels) v = normal(rng);
  std::vector<const float*> indirection(rows * (taps + pad_pointers));
  for (size_t i = 0; i < indirection.size(); ++i) indirection[i] = &pixels[(rng() % (rows * taps + 1)) * cin];
  std::vector<float> w(taps * cout), cb(cout), ab(cout);
  for (float& v : w) v = normal(rng);
  for (float& v : cb) v = normal(rng);
  for (float& v : ab) v = normal(rng);
  std::vector<float> out(rows * (cout + 5), -7.0f);
  std::vector<float*> outputs(rows);
  for (size_t r = 0; r < rows; ++r) outputs[r] = &out[r * (cout + 5)];
  RowsArgs args{rows, taps, indirection.data(), outputs.data(), w.data(), cb.data(), ab.data(), -2.0f, 3.0f};
  args.indirection_stride = taps + pad_pointers;
  args.store_op = store_op;
  fn(args, cin, multiplier);
  return out;
}

// Image rows of `channels` channels through `fn` (a 3x3 kernel, one padding
// column each side), rows of `out_w + 2` pixels apart.
std::vector<float> RunDepthwiseImageRows(DepthwiseImageRowsFn fn, size_t rows, size_t out_w, size_t channels,
                                         unsigned seed, StoreOp store_op) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> input(rows + 2, std::vector<float>(out_w * channels));
  std::vector<const float*> input_rows;
  for (auto& row : input) {
    for (float& v : row) v = normal(rng);
    input_rows.push_back(row.data());
  }
  std::vector<float> w(9 * channels), cb(channels), ab(channels);
  for (float& v : w) v = normal(rng);
  for (float& v : cb) v = normal(rng);
  for (float& v : ab) v = normal(rng);
  std::vector<float> out(rows * (out_w + 2) * channels, -7.0f);
  std::vector<float*> output_rows;
  for (size_t r = 0; r < rows; ++r) output_rows.push_back(out.data() + r * (out_w + 2) * channels);
  DepthwiseImageRowsArgs args;
  args.rows = rows;
  args.input_rows = input_rows.data();
  args.output_rows = output_rows.data();
  args.channels = channels;
  args.input_width = args.output_width = out_w;
  args.kernel_height = args.kernel_width = 3;
  args.pad_left = 1;
  args.weights = w.data();
  args.conv_bias = cb.data();
  args.add_bias = ab.data();
  args.out_min = -2.0f;
  args.out_max = 3.0f;
  args.store_op = store_op;
  fn(args);
  return out;
}

// The elementwise table whose bits a conv kernel of ISA `name` reproduces
// when it applies a StoreOp: the table of the flags it is compiled with (the
// AVX-512 kernels are built with FMA, as the AVX2 table the AVX-512 CPUs
// use; the scalar kernels, x86's depth-multiplier fallback included, without).
const ElementwiseKernels& TableOf(const std::string& name) {
#if defined(__x86_64__)
  if (name == "avx2" || name == "avx512") return ElementwiseKernelsAvx2();
#endif
#if defined(__aarch64__)
  if (name == "neon") return ElementwiseKernelsNeon();
#endif
  return ElementwiseKernelsScalar();
}

// The store ops and the elementwise ops they stand for.
struct StoreCase {
  StoreOp store;
  UnaryOp unary;
  const char* name;
};
const StoreCase kStoreCases[] = {{StoreOp::kHardSwish, UnaryOp::kHardSwish, "hard-swish"},
                                 {StoreOp::kSilu, UnaryOp::kSilu, "SiLU"}};

// RowsArgs / DepthwiseImageRowsArgs::store_op: every depthwise kernel's
// outputs are its clamped outputs through the elementwise op of its ISA
// (TableOf), bit for bit, in the vector steps and the channel tails alike;
// the gaps between rows stay untouched.
TEST(KernelsTest, DepthwiseStoreOpsAreTheElementwiseOpsAfterTheClamp) {
  for (const StoreCase& op : kStoreCases) {
  SCOPED_TRACE(op.name);
  auto check = [&](const std::vector<float>& plain, const std::vector<float>& got, size_t row_floats, size_t gap,
                   const ElementwiseKernels& elementwise) {
    std::vector<float> want = plain;
    for (size_t r = 0; r < want.size() / (row_floats + gap); ++r) {
      float* row = &want[r * (row_floats + gap)];
      elementwise.Unary(op.unary)(row_floats, row, row, UnaryParams());
    }
    ASSERT_EQ(got.size(), want.size());
    size_t changed = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << i;
      changed += got[i] != plain[i];
    }
    EXPECT_GT(changed, got.size() / (row_floats + gap) * row_floats / 2);  // most outputs: the flag took effect
  };
  std::vector<std::pair<DepthwiseRowsFn, const char*>> pointer_kernels = {{DepthwiseRowsScalar, "scalar"}};
  std::vector<std::pair<DepthwiseImageRowsFn, const char*>> image_kernels = {{DepthwiseImageRowsScalar, "scalar"}};
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) {
    pointer_kernels.push_back({DepthwiseRowsAvx2, "avx2"});
    image_kernels.push_back({DepthwiseImageRowsAvx2, "avx2"});
  }
  if (CpuHasAvx512()) {
    pointer_kernels.push_back({DepthwiseRowsAvx512, "avx512"});
    image_kernels.push_back({DepthwiseImageRowsAvx512, "avx512"});
  }
#endif
#if defined(__aarch64__)
  pointer_kernels.push_back({DepthwiseRowsNeon, "neon"});
  image_kernels.push_back({DepthwiseImageRowsNeon, "neon"});
#endif
  for (const auto& [fn, name] : pointer_kernels) {
    for (size_t cin : {7, 45, 96}) {
      for (size_t multiplier : {1, 2}) {
        SCOPED_TRACE(testing::Message() << name << " pointers, " << cin << " channels x " << multiplier);
        // A depth multiplier above 1 takes the scalar kernel on every ISA.
        check(RunDepthwise(fn, 13, 9, cin, multiplier, 31), RunDepthwise(fn, 13, 9, cin, multiplier, 31, 0, op.store),
              cin * multiplier, 5, TableOf(multiplier == 1 ? name : "scalar"));
      }
    }
  }
  for (const auto& [fn, name] : image_kernels) {
    for (size_t channels : {7, 45, 96}) {
      SCOPED_TRACE(testing::Message() << name << " image rows, " << channels << " channels");
      check(RunDepthwiseImageRows(fn, 3, 11, channels, 32, StoreOp::kNone),
            RunDepthwiseImageRows(fn, 3, 11, channels, 32, op.store), 11 * channels, 2 * channels, TableOf(name));
    }
  }
  }
}

// The image-rows depthwise kernel against the scalar one (tolerance), and
// against the selected DepthwiseRows kernel fed the same taps through
// pointers (bit for bit where both are the same ISA: same sums, same order).
TEST(KernelsTest, DepthwiseImageRowsMatchScalarAndPointerKernel) {
  // Each ISA's image-rows kernel with the pointer kernel of the same ISA.
  struct Pair {
    DepthwiseImageRowsFn image_rows;
    DepthwiseRowsFn pointers;
  };
  std::vector<Pair> pairs;
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) pairs.push_back({DepthwiseImageRowsAvx2, DepthwiseRowsAvx2});
  if (CpuHasAvx512()) pairs.push_back({DepthwiseImageRowsAvx512, DepthwiseRowsAvx512});
#endif
#if defined(__aarch64__)
  pairs.push_back({DepthwiseImageRowsNeon, DepthwiseRowsNeon});
#endif
  ASSERT_TRUE(SelectDepthwiseImageRows(nullptr) == nullptr ||
              std::any_of(pairs.begin(), pairs.end(),
                          [](const Pair& pair) { return pair.image_rows == SelectDepthwiseImageRows(nullptr); }));
  unsigned seed = 900;
  for (size_t stride : {1, 2})
  for (size_t kw : {3, 5})
    for (size_t kh : {1, 3, 5})
      for (size_t out_w : {1, 5, 7, 8, 13, 14, 17, 30})
        for (size_t pad : {size_t{0}, size_t{1}, kw / 2, kw - 1})
          // The last output pixel's last kernel column inside the row, or 1
          // or 2 columns beyond it; stride 1 also as wide as the output.
          for (size_t beyond : {0, 1, 2, 3})
            for (size_t channels : {1, 16, 17, 45, 96})
              for (size_t rows : {1, 3}) {
                const size_t reach = stride * (out_w - 1) + kw - pad;  // input columns the last pixel reaches
                if (beyond == 3 ? stride != 1 || out_w >= reach : beyond >= reach) continue;
                const size_t in_w = beyond == 3 ? out_w : reach - beyond;
                SCOPED_TRACE(testing::Message() << "stride=" << stride << " kw=" << kw << " kh=" << kh
                                                << " out_w=" << out_w << " pad=" << pad << " in_w=" << in_w
                                                << " channels=" << channels << " rows=" << rows);
                std::mt19937 rng(seed++);
                std::normal_distribution<float> normal;
                const size_t in_rows = (rows - 1) * stride + kh;
                std::vector<std::vector<float>> input(in_rows, std::vector<float>(in_w * channels));
                for (auto& row : input)
                  for (float& v : row) v = normal(rng);
                std::vector<const float*> row_ptrs(in_rows);
                // Padding rows (null) at the top or the bottom, as at an image's edges.
                for (size_t i = 0; i < in_rows; ++i) {
                  const bool padding = kh > 1 && ((seed % 3 == 0 && i == 0) || (seed % 3 == 1 && i + 1 == in_rows));
                  row_ptrs[i] = padding ? nullptr : input[i].data();
                }
                std::vector<float> w(kh * kw * channels), cb(channels), ab(channels);
                for (float& v : w) v = normal(rng);
                for (float& v : cb) v = normal(rng);
                for (float& v : ab) v = normal(rng);
                DepthwiseImageRowsArgs args;
                args.rows = rows;
                args.stride = stride;
                args.input_rows = row_ptrs.data();
                args.channels = channels;
                args.input_width = in_w;
                args.output_width = out_w;
                args.kernel_height = kh;
                args.kernel_width = kw;
                args.pad_left = pad;
                args.weights = w.data();
                args.conv_bias = cb.data();
                args.add_bias = ab.data();
                args.out_min = -2.0f;
                args.out_max = 3.0f;
                auto run = [&](DepthwiseImageRowsFn fn) {
                  std::vector<float> out(rows * out_w * channels, -7.0f);
                  std::vector<float*> out_ptrs(rows);
                  for (size_t r = 0; r < rows; ++r) out_ptrs[r] = out.data() + r * out_w * channels;
                  args.output_rows = out_ptrs.data();
                  fn(args);
                  return out;
                };
                const std::vector<float> ref = run(DepthwiseImageRowsScalar);
                // The same taps through pointers: a padding tap reads zeros.
                const std::vector<float> zeros(channels, 0.0f);
                std::vector<const float*> indirection;
                std::vector<float> by_ptr(rows * out_w * channels, -7.0f);
                std::vector<float*> out_ptrs;
                for (size_t r = 0; r < rows; ++r)
                  for (size_t x = 0; x < out_w; ++x) {
                    out_ptrs.push_back(by_ptr.data() + (r * out_w + x) * channels);
                    for (size_t ky = 0; ky < kh; ++ky)
                      for (size_t kx = 0; kx < kw; ++kx) {
                        const float* row = row_ptrs[r * stride + ky];
                        const size_t ix = stride * x + kx;  // input column ix - pad
                        const bool inside = row != nullptr && ix >= pad && ix - pad < in_w;
                        indirection.push_back(inside ? row + (ix - pad) * channels : zeros.data());
                      }
                  }
                RowsArgs pointer_args{rows * out_w, kh * kw, indirection.data(), out_ptrs.data(), w.data(), cb.data(),
                                      ab.data(), -2.0f, 3.0f};
                for (const Pair& pair : pairs) {
                  const std::vector<float> got = run(pair.image_rows);
                  for (size_t i = 0; i < ref.size(); ++i)
                    ASSERT_NEAR(got[i], ref[i], 1e-4f * (1 + std::fabs(ref[i]))) << "index " << i;
                  std::fill(by_ptr.begin(), by_ptr.end(), -7.0f);
                  pair.pointers(pointer_args, channels, 1);
                  for (size_t i = 0; i < by_ptr.size(); ++i) ASSERT_EQ(got[i], by_ptr[i]) << "index " << i;
                }
              }
}

TEST(KernelsTest, EveryDepthwiseKernelMatchesScalar) {
  std::vector<DepthwiseRowsFn> kernels = {SelectDepthwiseRows(nullptr)};
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) kernels.push_back(DepthwiseRowsAvx2);
  if (CpuHasAvx512()) kernels.push_back(DepthwiseRowsAvx512);
#endif
  for (DepthwiseRowsFn selected : kernels) {
  unsigned seed = 500;
  // Rows cover whole pixel blocks (4 and 6) and every remainder; channels
  // cover the 16-wide steps, the 8-wide step and the scalar tail, alone and
  // together; rows' pointers end to end and apart (the unrolled 3x3 and 5x5
  // loops take only the former).
  for (size_t rows : {1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13})
    for (size_t taps : {1, 9, 25})
      for (size_t cin : {1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 45, 96, 129})
        for (size_t multiplier : {1, 2}) {
          const size_t pad_pointers = (rows + cin) % 3 == 0 ? 2 : 0;
          SCOPED_TRACE(testing::Message() << "rows=" << rows << " taps=" << taps << " cin=" << cin << " m=" << multiplier
                                          << " pad_pointers=" << pad_pointers);
          const std::vector<float> ref =
              RunDepthwise(DepthwiseRowsScalar, rows, taps, cin, multiplier, seed, pad_pointers);
          const std::vector<float> got = RunDepthwise(selected, rows, taps, cin, multiplier, seed, pad_pointers);
          ++seed;
          for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-4f * (1 + std::fabs(ref[i])));
        }
  }
}

#if defined(__aarch64__)
TEST(KernelsTest, NeonIsSelectedOnAarch64) {
  const char* name = nullptr;
  SelectConvRows(&name);
  EXPECT_STREQ(name, "neon");
  SelectDepthwiseRows(&name);
  EXPECT_STREQ(name, "neon");
}
#endif

#if defined(__x86_64__)
TEST(KernelsTest, Avx2IsSelectedWhereAvailable) {
  const char* name = nullptr;
  SelectConvRows(&name);
  EXPECT_STREQ(name, CpuHasAvx2Fma() ? "avx2" : "scalar");
}
#endif

// ---- igemm ----

struct IgemmCase {
  size_t rows, taps, tap_channels, channels;
  size_t taps_per_call;  // < taps: the reduction in blocks (accumulate / finish)
  size_t input_offset;
};

// Runs `fn` on random data, `rows_per_call` rows per call (every row at
// once is what the operator does; one row per call is the reference).
// prefetch_lines: the next call's lines the call asks for (none: one-tap
// calls from the bias take AVX2's IgemmOneTap).
std::vector<float> RunIgemm(IgemmFn fn, size_t rows_per_call, const IgemmCase& c, unsigned seed,
                            StoreOp store_op = StoreOp::kNone, size_t prefetch_lines = 3) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const size_t pixel = c.tap_channels + c.input_offset;
  std::vector<float> pixels((c.rows * c.taps + 1) * pixel);
  for (float& v : pixels) v = normal(rng);
  std::vector<const float*> indirection(c.rows * c.taps);
  for (const float*& p : indirection) p = &pixels[(rng() % (c.rows * c.taps + 1)) * pixel];
  std::vector<float> ohwi(c.channels * c.taps * c.tap_channels), bias(c.channels);
  for (float& v : ohwi) v = normal(rng);
  for (float& v : bias) v = normal(rng);
  std::vector<float> packed(PackedIgemmWeightsSize(c.taps, c.tap_channels, c.channels));
  PackIgemmWeights(ohwi.data(), bias.data(), c.taps, c.tap_channels, c.channels, packed.data());
  std::vector<float> out(c.rows * (c.channels + 3), -7.0f);  // row stride > channels: tails must not spill
  std::vector<float*> outputs(c.rows);
  for (size_t r = 0; r < c.rows; ++r) outputs[r] = &out[r * (c.channels + 3)];
  IgemmArgs a;
  a.channels = c.channels;
  a.tap_channels = c.tap_channels;
  a.indirection_stride = c.taps;
  a.input_offset = c.input_offset;
  a.packed = packed.data();
  a.tile_stride = IgemmTileFloats(c.taps, c.tap_channels);
  a.lo = -1.5f;
  a.hi = 2.5f;
  a.prefetch = packed.data();  // harmless: only a hint
  a.prefetch_lines = prefetch_lines;
  a.store_op = store_op;
  const size_t per_call = c.taps_per_call ? c.taps_per_call : c.taps;
  for (size_t tap = 0; tap < c.taps; tap += per_call) {
    a.taps = std::min(per_call, c.taps - tap);
    a.reduction_offset = tap * c.tap_channels;
    a.accumulate = tap > 0;
    a.finish = tap + a.taps == c.taps;
    for (size_t r0 = 0; r0 < c.rows; r0 += rows_per_call) {
      a.rows = std::min(rows_per_call, c.rows - r0);
      a.indirection = indirection.data() + r0 * c.taps + tap;
      a.outputs = outputs.data() + r0;
      fn(a);
    }
  }
  return out;
}

TEST(KernelsTest, IgemmScalarMatchesDirectSum) {
  // Two rows, one tap: out = clamp(bias + sum_k x*w).
  const float x0[3] = {1, 2, 3}, x1[3] = {-1, 0, 2};
  const float* ind[2] = {x0, x1};
  const float ohwi[2 * 3] = {1, 0, 0, 0, 1, 1};
  const float bias[2] = {0.5f, -10.0f};
  std::vector<float> packed(PackedIgemmWeightsSize(1, 3, 2));
  PackIgemmWeights(ohwi, bias, 1, 3, 2, packed.data());
  float out0[2], out1[2];
  float* outs[2] = {out0, out1};
  IgemmArgs a;
  a.rows = 2;
  a.channels = 2;
  a.tap_channels = 3;
  a.indirection = ind;
  a.packed = packed.data();
  a.outputs = outs;
  a.lo = -6.0f;
  a.hi = 100.0f;
  IgemmScalar(a);
  EXPECT_EQ(out0[0], 1.5f);
  EXPECT_EQ(out0[1], -5.0f);
  EXPECT_EQ(out1[0], -0.5f);
  EXPECT_EQ(out1[1], -6.0f);  // -8 clamped
}

// Every SIMD igemm kernel this CPU runs, with its block height.
std::vector<IgemmKernel> SimdIgemms() {
  std::vector<IgemmKernel> kernels;
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) kernels.push_back({IgemmAvx2, "avx2", kIgemmRowsAvx2, 1, 0, 0});
  if (CpuHasAvx512()) kernels.push_back({IgemmAvx512, "avx512", kIgemmRowsAvx512, 2, 0, 0});
#endif
#if defined(__aarch64__)
  kernels.push_back({IgemmNeon, "neon", kIgemmRowsNeon, 1, 0, 0});
#endif
  return kernels;
}

// The SIMD ones and the scalar one (its blocks and direct rows are the
// shared kernel-layer code the SIMD ones use too).
std::vector<IgemmKernel> AllIgemms() {
  std::vector<IgemmKernel> kernels = SimdIgemms();
  kernels.push_back({IgemmScalar, "scalar", kIgemmRowsScalar, 1, 0, 0});
  return kernels;
}

TEST(KernelsTest, SelectIgemmPicksTheWidestIsa) {
  const IgemmKernel chosen = SelectIgemm();
  const std::vector<IgemmKernel> simd = SimdIgemms();
  EXPECT_STREQ(chosen.name, simd.empty() ? "scalar" : simd.back().name);
}

// Each kernel with every row in one call (in its blocks, the prefetch lines
// shared among them) and with a block per call, against the scalar kernel
// one row per call.
TEST(KernelsTest, IgemmKernelsMatchScalarRowByRow) {
  const std::vector<IgemmCase> cases = {
      {1, 1, 1, 1, 0, 0},    {6, 1, 16, 96, 0, 0},  {7, 9, 64, 64, 0, 0},   {13, 1, 45, 129, 0, 3},
      {49, 9, 17, 40, 4, 0}, {5, 7, 21, 16, 3, 0}, {12, 3, 5, 7, 0, 11},    {25, 1, 320, 33, 0, 0},
      {14, 2, 9, 48, 0, 0},  {7, 1, 3, 17, 0, 0},  {21, 1, 8, 32, 0, 0},
      // Tiles of every partial width: 8 + 4 + 2 + 1, 8 + 4 + 2, 4 + 1, 8 + 4, 4 + 2, 2 + 1.
      {9, 1, 10, 15, 0, 0},  {8, 2, 6, 30, 0, 0},  {10, 1, 9, 21, 0, 0},   {6, 1, 4, 12, 0, 0},
      {6, 1, 7, 6, 0, 0},    {11, 1, 12, 3, 0, 0},
      // One or two rows: tiles in groups (AVX2: 4 and 3), the last group partial or the rest single tiles.
      {1, 1, 37, 100, 0, 0}, {2, 3, 11, 81, 1, 0}, {1, 9, 5, 64, 4, 2},    {2, 1, 3, 40, 0, 0},
  };
  for (const IgemmKernel& kernel : AllIgemms()) {
    for (const IgemmCase& c : cases) {
      const std::vector<float> want = RunIgemm(IgemmScalar, 1, c, 7);
      for (size_t rows_per_call : {c.rows, kernel.block_rows}) {
        std::vector<float> prefetching;  // the outputs with lines to prefetch
        for (size_t prefetch_lines : {3, 0}) {
          SCOPED_TRACE(testing::Message() << kernel.name << ": " << c.rows << " rows (" << rows_per_call
                                          << " per call), " << c.taps << " taps x " << c.tap_channels << " -> "
                                          << c.channels << ", " << c.taps_per_call << " taps per call, "
                                          << prefetch_lines << " lines to prefetch");
          const std::vector<float> got = RunIgemm(kernel.fn, rows_per_call, c, 7, StoreOp::kNone, prefetch_lines);
          ASSERT_EQ(got.size(), want.size());
          for (size_t i = 0; i < got.size(); ++i) {
            // Same products and order; FMA contraction may differ in the last bits.
            ASSERT_NEAR(got[i], want[i], 2e-5f * (1.0f + std::abs(want[i]))) << i;
          }
          // Whatever path a call takes (AVX2: IgemmOneTap without lines to
          // prefetch), the kernel's own sums are the same bits.
          if (prefetch_lines != 0) {
            prefetching = got;
          } else {
            ASSERT_EQ(prefetching.size(), got.size());
            for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], prefetching[i]) << i;
          }
        }
      }
    }
  }
}

// IgemmArgs::store_op: every kernel's outputs are its clamped outputs
// through the elementwise op of its ISA (TableOf), bit for bit (a fused stage so moved into the
// kernel gives the same numbers); only the finishing call applies it, and
// the row tails stay untouched.
TEST(KernelsTest, IgemmStoreOpsAreTheElementwiseOpsAfterTheClamp) {
  const std::vector<IgemmCase> cases = {{13, 1, 45, 129, 0, 3}, {49, 9, 17, 40, 4, 0}, {7, 1, 3, 17, 0, 0}};
  for (const StoreCase& op : kStoreCases)
  for (const IgemmKernel& kernel : AllIgemms()) {
    const ElementwiseKernels& elementwise = TableOf(kernel.name);
    for (const IgemmCase& c : cases) {
      SCOPED_TRACE(testing::Message() << op.name << ", " << kernel.name << ": " << c.rows << " rows, " << c.taps
                                      << " taps x " << c.tap_channels << " -> " << c.channels);
      const std::vector<float> plain = RunIgemm(kernel.fn, c.rows, c, 9);
      const std::vector<float> got = RunIgemm(kernel.fn, c.rows, c, 9, op.store);
      std::vector<float> want = plain;
      for (size_t r = 0; r < c.rows; ++r) {
        float* row = &want[r * (c.channels + 3)];
        elementwise.Unary(op.unary)(c.channels, row, row, UnaryParams());
      }
      ASSERT_EQ(got.size(), want.size());
      size_t changed = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], want[i]) << i;
        changed += got[i] != plain[i];
      }
      EXPECT_GT(changed, got.size() / 2);
    }
  }
}

// A 1x1 conv over contiguous pixels (`pixel` floats apart, outputs
// `channels + 3` apart), its reduction in `blocks` channel blocks. direct:
// one call per block with rows by arithmetic (IgemmArgs::direct_*_stride);
// else one call per row through pointers (the reference).
std::vector<float> RunIgemmRows(IgemmFn fn, bool direct, size_t rows, size_t tap_channels,
                                size_t channels, size_t input_offset, size_t blocks, unsigned seed,
                                size_t prefetch_lines = 5) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const size_t pixel = tap_channels + input_offset + 2;
  std::vector<float> pixels(rows * pixel);
  for (float& v : pixels) v = normal(rng);
  std::vector<float> ohwi(channels * tap_channels), bias(channels);
  for (float& v : ohwi) v = normal(rng);
  for (float& v : bias) v = normal(rng);
  std::vector<float> packed(PackedIgemmWeightsSize(1, tap_channels, channels));
  PackIgemmWeights(ohwi.data(), bias.data(), 1, tap_channels, channels, packed.data());
  const size_t out_stride = channels + 3;
  std::vector<float> out(rows * out_stride, -7.0f);
  std::vector<const float*> inputs(rows);
  std::vector<float*> outputs(rows);
  for (size_t r = 0; r < rows; ++r) {
    inputs[r] = &pixels[r * pixel];
    outputs[r] = &out[r * out_stride];
  }
  IgemmArgs a;
  a.channels = channels;
  a.indirection_stride = 1;
  a.packed = packed.data();
  a.tile_stride = IgemmTileFloats(1, tap_channels);
  a.lo = -1.5f;
  a.hi = 2.5f;
  a.prefetch = packed.data();  // harmless: only a hint
  const size_t per_block = (tap_channels + blocks - 1) / blocks;
  for (size_t c = 0; c < tap_channels; c += per_block) {
    a.tap_channels = std::min(per_block, tap_channels - c);
    a.input_offset = input_offset + c;
    a.reduction_offset = c;
    a.accumulate = c > 0;
    a.finish = c + a.tap_channels == tap_channels;
    a.prefetch_lines = prefetch_lines;
    if (direct) {
      a.rows = rows;
      a.indirection = inputs.data();  // only [0] is read
      a.outputs = outputs.data();
      a.direct_input_stride = pixel;
      a.direct_output_stride = out_stride;
      fn(a);
      continue;
    }
    for (size_t r0 = 0; r0 < rows; ++r0) {
      a.rows = 1;
      a.indirection = inputs.data() + r0;
      a.outputs = outputs.data() + r0;
      fn(a);
    }
  }
  return out;
}

TEST(KernelsTest, IgemmDirectRowsMatchPointerRows) {
  struct Case {
    size_t rows, tap_channels, channels, input_offset, blocks;
  };
  const std::vector<Case> cases = {
      {1, 1, 1, 0, 1},    {6, 16, 16, 0, 1},  {7, 32, 192, 0, 1}, {8, 45, 129, 3, 1},  {13, 24, 17, 0, 2},
      {49, 64, 33, 0, 1}, {50, 7, 48, 5, 3},  {100, 16, 96, 0, 1}, {15, 144, 24, 0, 2}, {22, 3, 7, 1, 1},
  };
  for (const IgemmKernel& kernel : AllIgemms()) {
    for (const Case& c : cases)
    for (size_t prefetch_lines : {5, 0}) {
      SCOPED_TRACE(testing::Message() << kernel.name << ": " << c.rows << " rows, " << c.tap_channels << " -> "
                                      << c.channels << ", offset " << c.input_offset << ", " << c.blocks << " blocks, "
                                      << prefetch_lines << " lines to prefetch");
      const std::vector<float> want =
          RunIgemmRows(IgemmScalar, false, c.rows, c.tap_channels, c.channels, c.input_offset, c.blocks, 3);
      const std::vector<float> got = RunIgemmRows(kernel.fn, true, c.rows, c.tap_channels, c.channels,
                                                  c.input_offset, c.blocks, 3, prefetch_lines);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 2e-5f * (1.0f + std::abs(want[i]))) << i;
      }
    }
  }
}

// A NaN input gives NaN outputs through the fused activation's clamp, as
// the builtin kernels' std::min(std::max(v, lo), hi) gives (x86's min and
// max instructions return their second operand where one is NaN: with the
// clamp bound second, a NaN became the bound). Every igemm, ConvRows and
// depthwise kernel this CPU runs, ReLU6 as the clamp; one input pixel holds
// a NaN in one channel, the others are finite.
TEST(KernelsTest, NanInputsStayNanThroughTheClamp) {
  constexpr size_t kRowsN = 13, kChannels = 40, kNanPixel = 5, kNanChannel = 3;
  std::vector<float> pixels(kRowsN * kChannels);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = 0.01f * static_cast<float>(i % 17);
  pixels[kNanPixel * kChannels + kNanChannel] = std::nanf("");
  std::vector<const float*> rows(kRowsN);
  for (size_t r = 0; r < kRowsN; ++r) rows[r] = &pixels[r * kChannels];
  std::vector<float> out(kRowsN * kChannels);
  std::vector<float*> outputs(kRowsN);
  for (size_t r = 0; r < kRowsN; ++r) outputs[r] = &out[r * kChannels];
  const std::vector<float> weights(kChannels * kChannels, 0.25f), bias(kChannels, 0.5f);
  // Row kNanPixel: every output channel (a 1x1 conv sums every input channel).
  auto expect_nan_row = [&](const char* what) {
    for (size_t r = 0; r < kRowsN; ++r)
      for (size_t c = 0; c < kChannels; ++c) {
        ASSERT_EQ(std::isnan(out[r * kChannels + c]), r == kNanPixel) << what << ": pixel " << r << " channel " << c;
      }
  };
  std::vector<float> packed(PackedIgemmWeightsSize(1, kChannels, kChannels));
  PackIgemmWeights(weights.data(), bias.data(), 1, kChannels, kChannels, packed.data());
  for (const IgemmKernel& kernel : AllIgemms()) {
    IgemmArgs a;
    a.rows = kRowsN;
    a.channels = kChannels;
    a.tap_channels = kChannels;
    a.indirection = rows.data();
    a.outputs = outputs.data();
    a.packed = packed.data();
    a.lo = 0.0f;
    a.hi = 6.0f;
    std::fill(out.begin(), out.end(), -7.0f);
    kernel.fn(a);
    expect_nan_row(kernel.name);
  }
  std::vector<float> conv_packed(PackedConvWeightsSize(1, kChannels, kChannels));
  PackConvWeights(weights.data(), 1, kChannels, kChannels, conv_packed.data());
  const char* conv_rows_name = nullptr;
  for (ConvRowsFn fn : {ConvRowsScalar, SelectConvRows(&conv_rows_name)}) {
    RowsArgs args{kRowsN, 1, rows.data(), outputs.data(), conv_packed.data(), bias.data(), bias.data(), 0.0f, 6.0f};
    std::fill(out.begin(), out.end(), -7.0f);
    fn(args, kChannels, kChannels);
    expect_nan_row(fn == ConvRowsScalar ? "conv rows scalar" : conv_rows_name);
  }
  // Depthwise, 1x1 taps: only the NaN channel of the NaN pixel.
  std::vector<DepthwiseRowsFn> depthwise = {DepthwiseRowsScalar, SelectDepthwiseRows(nullptr)};
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) depthwise.push_back(DepthwiseRowsAvx2);
  if (CpuHasAvx512()) depthwise.push_back(DepthwiseRowsAvx512);
#endif
  for (DepthwiseRowsFn fn : depthwise) {
    RowsArgs args{kRowsN, 1, rows.data(), outputs.data(), weights.data(), bias.data(), bias.data(), 0.0f, 6.0f};
    std::fill(out.begin(), out.end(), -7.0f);
    fn(args, kChannels, 1);
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(std::isnan(out[i]), i == kNanPixel * kChannels + kNanChannel) << "depthwise, output " << i;
    }
  }
  // By image rows: a 3x3 conv over one row of 13 pixels (the rows above and
  // below padding); outputs 4, 5 and 6 read the NaN in its channel.
  for (DepthwiseImageRowsFn fn : {DepthwiseImageRowsScalar, SelectDepthwiseImageRows(nullptr)}) {
    if (fn == nullptr) continue;
    const float* input_rows[3] = {nullptr, pixels.data(), nullptr};
    float* output_rows[1] = {out.data()};
    DepthwiseImageRowsArgs args;
    args.rows = 1;
    args.input_rows = input_rows;
    args.output_rows = output_rows;
    args.channels = kChannels;
    args.input_width = args.output_width = kRowsN;
    args.kernel_height = args.kernel_width = 3;
    args.pad_left = 1;
    args.weights = weights.data();  // 9 x 40 of the 40 x 40 floats
    args.conv_bias = args.add_bias = bias.data();
    args.out_min = 0.0f;
    args.out_max = 6.0f;
    std::fill(out.begin(), out.end(), -7.0f);
    fn(args);
    for (size_t x = 0; x < kRowsN; ++x)
      for (size_t c = 0; c < kChannels; ++c) {
        const bool reads_nan = c == kNanChannel && x + 1 >= kNanPixel && x <= kNanPixel + 1;
        ASSERT_EQ(std::isnan(out[x * kChannels + c]), reads_nan) << "depthwise by image rows, pixel " << x << " channel " << c;
      }
  }
}

}  // namespace
}  // namespace kernels
}  // namespace actsparse
