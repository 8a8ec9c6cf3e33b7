// The operators added for whole-graph claiming, against naive loops written
// here: broadcasting binary ops, pooling, MEAN, SOFTMAX, PAD, SLICE, TRANSPOSE,
// BROADCAST_TO, CONCATENATION, RESIZE_NEAREST_NEIGHBOR, grouped convs and the conv output
// stage (residual + activation), BATCH_MATMUL. Each runs without a pool and on 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "delegate/operator/conv3d.h"
#include "delegate/operator/elementwise.h"
#include "delegate/operator/layout.h"
#include "delegate/operator/matmul.h"
#include "delegate/operator/pooling.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/thread_pool.h"
#include "delegate/operator/transpose_conv.h"

namespace actsparse {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Random(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Flat index of `coords` (right-aligned to `shape`, broadcast dims read at 0).
size_t BroadcastIndex(const Shape& shape, const std::vector<int>& coords) {
  size_t index = 0;
  const size_t offset = coords.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) index = index * shape[i] + (shape[i] == 1 ? 0 : coords[offset + i]);
  return index;
}

std::vector<int> Coords(size_t flat, const Shape& shape) {
  std::vector<int> coords(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    coords[i] = static_cast<int>(flat % shape[i]);
    flat /= shape[i];
  }
  return coords;
}

// A k x k depthwise conv of stride 1, SAME padding, multiplier 1.
SparseConvParams SameDepthwise(int batch, int height, int width, int channels, int k) {
  SparseConvParams p;
  p.batch = batch;
  p.input_height = p.output_height = height;
  p.input_width = p.output_width = width;
  p.input_channels = p.output_channels = channels;
  p.depthwise = true;
  p.kernel_height = p.kernel_width = k;
  p.padding_top = p.padding_left = k / 2;
  return p;
}

// A regular conv with SAME padding (odd kernel): output size ceil(input / stride).
SparseConvParams SameConv(int batch, int height, int width, int cin, int cout, int kernel, int stride, int groups = 1) {
  SparseConvParams p;
  p.batch = batch;
  p.input_height = height;
  p.input_width = width;
  p.input_channels = cin;
  p.output_channels = cout;
  p.kernel_height = p.kernel_width = kernel;
  p.stride_height = p.stride_width = stride;
  p.padding_top = p.padding_left = kernel / 2;
  p.output_height = (height - 1) / stride + 1;
  p.output_width = (width - 1) / stride + 1;
  p.groups = groups;
  return p;
}

// A conv made with `blocking`, its masked outputs left unwritten if `skip`
// (SkipMaskedOutputs); null (and a test failure) if it cannot be made.
// The regular conv's kernels as blockings: igemm (the reduction whole),
// igemm in reduction blocks of 8 values (the weights laid out block by
// block) and the tap-blocked kernel.
struct ConvKernelBlockings {
  ConvBlocking igemm, igemm_blocked, conv_rows;
  ConvKernelBlockings() {
    igemm_blocked.igemm_blocked_from = 0;
    igemm_blocked.igemm_reduction_block = 8;
    conv_rows.igemm_max_reduction = 1;
  }
};

std::unique_ptr<SparseConvOperator> MakeConv(const SparseConvParams& p, const std::vector<float>& weights,
                                             const std::vector<float>& bias, const std::vector<float>& add,
                                             const uint8_t* mask, const OutputStage& stage,
                                             const ConvBlocking& blocking, bool skip = false) {
  std::string error;
  auto op = SparseConvOperator::Create(p, weights.data(), bias.data(), add.data(), mask, &error, stage);
  EXPECT_NE(op, nullptr) << error;
  if (op == nullptr) return op;
  op->set_blocking(blocking);
  if (skip) op->SkipMaskedOutputs();
  return op;
}

// Runs a conv band by band through ring layouts, as a banded step does: for
// each band of `out_ring` output rows, copies the input rows it reads (from
// `halo` rows above the band's first row * stride to `halo` below its last
// row * stride) from the dense `in` (batch x in_height rows of `in_row`
// floats) into a ring of `in_ring` rows, runs those output rows into a ring
// of `out_ring` rows (`out_row` floats each, first filled with `out_fill`)
// and hands each output row (image n, row y, its floats) to `check`.
struct RingRun {
  int batch, in_height, out_height, stride;
  size_t in_row, out_row;
  int in_ring, out_ring, halo;
};
template <typename Check>
void RunThroughRings(SparseConvOperator* op, const std::vector<float>& in, const RingRun& r, const float* residual,
                     ThreadPool* pool, float out_fill, Check&& check) {
  const PixelLayout in_layout{r.in_row, static_cast<size_t>(r.in_ring), r.in_ring * r.in_row};
  const PixelLayout out_layout{r.out_row, static_cast<size_t>(r.out_ring), r.out_ring * r.out_row};
  op->SetLayouts(in_layout, out_layout);
  std::vector<float> ring_in(r.batch * in_layout.image_stride), ring_out(r.batch * out_layout.image_stride, out_fill);
  for (int b0 = 0; b0 < r.out_height; b0 += r.out_ring) {
    const int b1 = std::min(b0 + r.out_ring, r.out_height);
    for (int n = 0; n < r.batch; ++n) {
      const int y_end = std::min((b1 - 1) * r.stride + r.halo + 1, r.in_height);
      for (int y = std::max(b0 * r.stride - r.halo, 0); y < y_end; ++y) {
        std::copy(&in[(n * r.in_height + y) * r.in_row], &in[(n * r.in_height + y + 1) * r.in_row],
                  &ring_in[n * in_layout.image_stride + (y % r.in_ring) * r.in_row]);
      }
    }
    op->RunRows(ring_in.data(), ring_out.data(), pool, residual, b0, b1);
    for (int n = 0; n < r.batch; ++n) {
      for (int y = b0; y < b1; ++y) check(n, y, &ring_out[n * out_layout.image_stride + (y % r.out_ring) * r.out_row]);
    }
  }
}

// The same for a stride-1 conv (input and output of `height` rows).
template <typename Check>
void RunThroughRings(SparseConvOperator* op, const std::vector<float>& in, int batch, int height, size_t in_row,
                     size_t out_row, int in_ring, int out_ring, int halo, const float* residual, ThreadPool* pool,
                     float out_fill, Check&& check) {
  RunThroughRings(op, in, RingRun{batch, height, height, 1, in_row, out_row, in_ring, out_ring, halo}, residual, pool,
                  out_fill, check);
}

// Packed weights and activations: 64-byte aligned; from 2 MB on, on a 2 MB
// boundary (whole huge pages for the kernel's THP hint), and usable to the end.
TEST(BufferTest, LargeBuffersStartOnHugePageBoundaries) {
  constexpr size_t kHuge = 2 * 1024 * 1024;
  for (size_t bytes : {size_t{4}, size_t{4096}, kHuge - 4, kHuge, 5 * kHuge + 12}) {
    SCOPED_TRACE(bytes);
    void* p = AllocateBuffer(bytes);
    ASSERT_NE(p, nullptr);
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    EXPECT_EQ(address % (bytes >= kHuge ? kHuge : 64), 0u);
    std::memset(p, 0x5a, bytes);
    EXPECT_EQ(static_cast<unsigned char*>(p)[bytes - 1], 0x5a);
    FreeBuffer(p, bytes);
  }
  AlignedFloats weights(kHuge / sizeof(float) + 3, 1.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(weights.data()) % kHuge, 0u);
  weights.resize(10);  // reallocation frees with the size it was allocated with
  weights.shrink_to_fit();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(weights.data()) % 64, 0u);
}

class OperatorsTest : public ::testing::TestWithParam<int> {
 protected:
  ThreadPool* pool() {
    if (GetParam() == 1) return nullptr;
    if (!pool_) pool_ = std::make_unique<ThreadPool>(GetParam());
    return pool_.get();
  }
  std::unique_ptr<ThreadPool> pool_;
};

TEST_P(OperatorsTest, BinaryBroadcastsLikeNumPy) {
  struct Case {
    Shape a, b, out;
  };
  const std::vector<Case> cases = {
      {{2, 5, 7, 45}, {2, 5, 7, 45}, {2, 5, 7, 45}}, {{1, 5, 7, 45}, {45}, {1, 5, 7, 45}},
      {{2, 5, 7, 7}, {2, 1, 1, 7}, {2, 5, 7, 7}},   {{1, 5, 7, 3}, {}, {1, 5, 7, 3}},
      {{1, 5, 1, 3}, {1, 1, 7, 1}, {1, 5, 7, 3}},   {{3, 1, 129}, {1, 4, 1}, {3, 4, 129}},
      {{1}, {2, 3, 200, 70}, {2, 3, 200, 70}},      {{2, 1, 3, 1, 5, 1}, {1, 4, 1, 6, 1, 7}, {2, 4, 3, 6, 5, 7}},
      // One long run, split over the threads: both whole, or one a single value.
      {{2, 3, 200, 70}, {2, 3, 200, 70}, {2, 3, 200, 70}}, {{2, 3, 200, 70}, {}, {2, 3, 200, 70}},
      // affine_grid's product: runs of 2 with one operand broadcast along
      // them, over several tasks and a ragged last block.
      {{1, 7001, 3, 1}, {2, 1, 3, 2}, {2, 7001, 3, 2}}, {{2, 1, 3, 2}, {1, 7001, 3, 1}, {2, 7001, 3, 2}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeText(c.a) + " op " + ShapeText(c.b));
    const std::vector<float> a = Random(NumElements(c.a), 1), b = Random(NumElements(c.b), 2);
    std::string error;
    auto op = BinaryOperator::Create(kernels::BinaryOp::kSub, c.a, c.b, c.out, -1.5f, kInf, &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(NumElements(c.out));
    op->Run(a.data(), b.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      const std::vector<int> coords = Coords(i, c.out);
      const float want = std::max(a[BroadcastIndex(c.a, coords)] - b[BroadcastIndex(c.b, coords)], -1.5f);
      ASSERT_EQ(out[i], want) << i;
    }
  }
  std::string error;
  EXPECT_EQ(BinaryOperator::Create(kernels::BinaryOp::kAdd, {2, 3}, {4, 3}, {4, 3}, -kInf, kInf, &error), nullptr);
  EXPECT_NE(error.find("do not broadcast"), std::string::npos) << error;
}

// The chain's stages against their own operators run one after the other:
// the same bits, on rows of an odd width across chunk and task edges.
TEST_P(OperatorsTest, ElementwiseChainIsItsOpsInTurn) {
  const size_t rows = 300, channels = 45;
  const Shape shape{3, 10, 10, 45};
  const std::vector<float> x = Random(rows * channels, 15), per_channel = Random(channels, 16);
  std::vector<ElementwiseStage> stages(4);
  stages[0].binary_op = kernels::BinaryOp::kSub;
  stages[0].operand = per_channel;
  stages[1].binary_op = kernels::BinaryOp::kDiv;
  stages[1].operand.assign(channels, 1.7f);
  stages[1].operand_first = true;
  stages[1].params.lo = -2.0f;
  stages[1].params.hi = 3.0f;
  stages[2].unary = true;
  stages[2].unary_op = kernels::UnaryOp::kGelu;
  stages[3].binary_op = kernels::BinaryOp::kMax;
  stages[3].operand = Random(channels, 17);
  std::string error;
  auto chain = ElementwiseChainOperator::Create(stages, rows * channels, channels, &error);
  ASSERT_NE(chain, nullptr) << error;
  std::vector<float> got(rows * channels);
  chain->Run(x.data(), got.data(), pool());
  std::vector<float> want = x, next(want.size());
  const float scalar = 1.7f;
  BinaryOperator::Create(kernels::BinaryOp::kSub, shape, {45}, shape, -3.402823466e+38f, 3.402823466e+38f, &error)
      ->Run(want.data(), per_channel.data(), next.data(), pool());
  BinaryOperator::Create(kernels::BinaryOp::kDiv, {}, shape, shape, -2.0f, 3.0f, &error)
      ->Run(&scalar, next.data(), want.data(), pool());
  UnaryOperator::Create(kernels::UnaryOp::kGelu, want.size(), kernels::UnaryParams())->Run(want.data(), next.data(),
                                                                                           pool());
  BinaryOperator::Create(kernels::BinaryOp::kMax, shape, {1, 1, 45}, shape, -3.402823466e+38f, 3.402823466e+38f,
                         &error)
      ->Run(next.data(), stages[3].operand.data(), want.data(), pool());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;
  // Refused: an operand that is not one float per channel; rows that do not divide.
  stages[0].operand.pop_back();
  EXPECT_EQ(ElementwiseChainOperator::Create(stages, rows * channels, channels, &error), nullptr);
  EXPECT_NE(error.find("an operand of 44 floats for rows of 45"), std::string::npos) << error;
  EXPECT_EQ(ElementwiseChainOperator::Create({}, rows * channels, channels, &error), nullptr);
  EXPECT_EQ(ElementwiseChainOperator::Create({ElementwiseStage{}}, 100, channels, &error), nullptr);
  EXPECT_NE(error.find("elementwise chain: 1 stages over 100 floats in rows of 45"), std::string::npos) << error;
}

TEST_P(OperatorsTest, PoolingSkipsPaddingAndCountsValidPositions) {
  for (kernels::PoolOp kind : {kernels::PoolOp::kMax, kernels::PoolOp::kAverage, kernels::PoolOp::kSum}) {
    const bool max = kind == kernels::PoolOp::kMax;
    Pool2DParams p;
    p.op = kind;
    p.batch = 2;
    p.input_height = 9;
    p.input_width = 8;
    p.channels = 45;
    p.filter_height = p.filter_width = 3;
    p.stride_height = p.stride_width = 2;
    p.padding_top = p.padding_left = 1;
    p.output_height = 5;
    p.output_width = 4;
    p.output_min = -0.5f;
    p.output_max = 6.0f;
    std::string error;
    auto op = Pool2DOperator::Create(p, &error);
    ASSERT_NE(op, nullptr) << error;
    const std::vector<float> in = Random(2 * 9 * 8 * 45, 5);
    std::vector<float> out(2 * 5 * 4 * 45);
    op->Run(in.data(), out.data(), pool());
    for (int n = 0; n < 2; ++n)
      for (int oy = 0; oy < 5; ++oy)
        for (int ox = 0; ox < 4; ++ox)
          for (int c = 0; c < 45; ++c) {
            float acc = max ? -kInf : 0.0f;
            int count = 0;
            for (int y = oy * 2 - 1; y < oy * 2 + 2; ++y)
              for (int x = ox * 2 - 1; x < ox * 2 + 2; ++x) {
                if (y < 0 || y >= 9 || x < 0 || x >= 8) continue;
                const float v = in[((n * 9 + y) * 8 + x) * 45 + c];
                acc = max ? std::max(acc, v) : acc + v;
                ++count;
              }
            const float want =
                std::min(std::max(kind == kernels::PoolOp::kAverage ? acc / count : acc, -0.5f), 6.0f);
            ASSERT_EQ(out[((n * 5 + oy) * 4 + ox) * 45 + c], want);
          }
  }
  Pool2DParams bad;
  bad.batch = bad.input_height = bad.input_width = bad.channels = bad.output_height = bad.output_width = 1;
  bad.padding_top = 3;
  std::string error;
  EXPECT_EQ(Pool2DOperator::Create(bad, &error), nullptr);
  EXPECT_NE(error.find("entirely in the padding"), std::string::npos) << error;
}

TEST_P(OperatorsTest, MeanOverAxisRanges) {
  const Shape shape = {2, 7, 6, 45};
  const std::vector<float> in = Random(NumElements(shape), 6);
  for (const auto& axes : std::vector<std::pair<int, int>>{{1, 2}, {2, 3}, {3, 3}, {0, 3}, {0, 0}}) {
    std::string error;
    auto op = ReduceOperator::Create(shape, axes.first, axes.second, &error);
    ASSERT_NE(op, nullptr) << error;
    size_t reduced = 1;
    for (int a = axes.first; a <= axes.second; ++a) reduced *= shape[a];
    std::vector<float> out(in.size() / reduced);
    op->Run(in.data(), out.data(), pool());
    std::vector<double> want(out.size(), 0.0);
    for (size_t i = 0; i < in.size(); ++i) {
      std::vector<int> c = Coords(i, shape);
      size_t o = 0;
      for (int d = 0; d < 4; ++d) {
        if (d >= axes.first && d <= axes.second) continue;
        o = o * shape[d] + c[d];
      }
      want[o] += in[i];
    }
    for (size_t o = 0; o < out.size(); ++o) ASSERT_NEAR(out[o], want[o] / reduced, 1e-6) << axes.first;
    auto sum = ReduceOperator::Create(shape, axes.first, axes.second, &error, Reduction::kSum);
    ASSERT_NE(sum, nullptr) << error;
    sum->Run(in.data(), out.data(), pool());
    for (size_t o = 0; o < out.size(); ++o) ASSERT_NEAR(out[o], want[o], 1e-5 * reduced) << "sum " << axes.first;
  }
  std::string error;
  EXPECT_EQ(ReduceOperator::Create(shape, 2, 1, &error), nullptr);
}

// Axes that are not one range (PSPNet's MEAN over axes 3 and 5 of a 6-D
// tensor; 0 and 2; 1 and 3): the kept and the reduced dims each in order,
// every reduction against a plain loop; axes unsorted or repeated refused.
TEST_P(OperatorsTest, ReduceOverAxesThatAreNotOneRange) {
  for (const auto& c : std::vector<std::pair<Shape, std::vector<int>>>{
           {{2, 7, 6, 45}, {1, 3}}, {{2, 7, 6, 45}, {0, 2}}, {{2, 5, 6, 2, 6, 3}, {3, 5}},
           {{2, 5, 6, 2, 6, 3}, {0, 2, 4}}}) {
    const Shape& shape = c.first;
    const std::vector<float> in = Random(NumElements(shape), 8);
    size_t reduced = 1;
    for (int a : c.second) reduced *= shape[a];
    std::vector<double> sum(in.size() / reduced, 0.0), max(sum.size(), -1e30);
    for (size_t i = 0; i < in.size(); ++i) {
      const std::vector<int> coords = Coords(i, shape);
      size_t o = 0;
      for (size_t d = 0; d < shape.size(); ++d) {
        if (std::find(c.second.begin(), c.second.end(), static_cast<int>(d)) == c.second.end()) {
          o = o * shape[d] + coords[d];
        }
      }
      sum[o] += in[i];
      max[o] = std::max<double>(max[o], in[i]);
    }
    for (Reduction r : {Reduction::kMean, Reduction::kSum, Reduction::kMax}) {
      std::string error;
      auto op = ReduceOperator::Create(shape, c.second, &error, r);
      ASSERT_NE(op, nullptr) << error;
      std::vector<float> out(sum.size(), -7.0f);
      op->Run(in.data(), out.data(), pool());
      for (size_t o = 0; o < out.size(); ++o) {
        const double want = r == Reduction::kMean ? sum[o] / reduced : r == Reduction::kSum ? sum[o] : max[o];
        ASSERT_NEAR(out[o], want, 1e-5 * std::max<double>(1.0, std::abs(want))) << ShapeText(shape) << " " << o;
      }
    }
  }
  std::string error;
  EXPECT_EQ(ReduceOperator::Create({2, 7, 6, 45}, std::vector<int>{3, 1}, &error), nullptr);
  EXPECT_NE(error.find("not sorted, distinct"), std::string::npos) << error;
  EXPECT_EQ(ReduceOperator::Create({2, 7, 6, 45}, std::vector<int>{1, 1}, &error), nullptr);
}

// ARG_MAX / ARG_MIN over each axis of a tensor with ties and NaNs: the
// builtin's walk from index 0 with a strict comparison.
TEST_P(OperatorsTest, ArgReduceTakesTheFirstWinnerAndNoLaterNaN) {
  const Shape shape = {3, 4, 5, 7};
  std::vector<float> in = Random(NumElements(shape), 12);
  for (size_t i = 0; i < in.size(); ++i) in[i] = std::round(in[i] * 2.0f);  // ties
  in[5] = in[40] = std::numeric_limits<float>::quiet_NaN();
  for (int axis = 0; axis < 4; ++axis) {
    for (bool max : {true, false}) {
      std::string error;
      auto op = ArgReduceOperator::Create(shape, axis, max, &error);
      ASSERT_NE(op, nullptr) << error;
      Shape out_shape = shape;
      out_shape.erase(out_shape.begin() + axis);
      std::vector<float> out(NumElements(out_shape), -1.0f);
      op->Run(in.data(), out.data(), pool());
      for (size_t o = 0; o < out.size(); ++o) {
        std::vector<int> c = Coords(o, out_shape);
        c.insert(c.begin() + axis, 0);
        float best = in[BroadcastIndex(shape, c)];
        int want = 0;
        for (int r = 1; r < shape[axis]; ++r) {
          c[axis] = r;
          const float v = in[BroadcastIndex(shape, c)];
          if (max ? v > best : v < best) {
            best = v;
            want = r;
          }
        }
        int32_t got;
        std::memcpy(&got, &out[o], sizeof(got));
        ASSERT_EQ(got, want) << "axis " << axis << " max " << max << " output " << o;
      }
    }
  }
  std::string error;
  EXPECT_EQ(ArgReduceOperator::Create(shape, 4, true, &error), nullptr);
  EXPECT_NE(error.find("arg reduction: axis 4"), std::string::npos) << error;
}

// CONV_3D against a plain loop over every tap (in double): SAME and VALID,
// strides and dilations in each dim, kernel depths 1..3, batch 2, a clamp.
TEST_P(OperatorsTest, Conv3DMatchesADirectLoop) {
  struct Case {
    int batch, d, h, w, cin, cout, kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pt, pl, od, oh, ow;
    float lo, hi;
  };
  const float none = 3.402823466e+38f;
  for (const Case& c : std::vector<Case>{
           {2, 4, 6, 7, 3, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 6, 7, 0.0f, none},
           {1, 7, 9, 8, 5, 7, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 4, 5, 8, -none, none},
           {1, 9, 6, 6, 4, 6, 3, 1, 3, 1, 1, 2, 2, 1, 1, 0, 0, 0, 5, 6, 2, 0.0f, 6.0f},
           {2, 3, 5, 5, 7, 45, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1, 1, 3, 5, 5, -none, none},
           {1, 2, 4, 4, 3, 5, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 3, 3, -none, none}}) {
    Conv3DParams p;
    SparseConvParams& q = p.plane;
    p.batch = c.batch;
    p.input_depth = c.d, q.input_height = c.h, q.input_width = c.w, q.input_channels = c.cin;
    p.output_depth = c.od, q.output_height = c.oh, q.output_width = c.ow, q.output_channels = c.cout;
    p.kernel_depth = c.kd, q.kernel_height = c.kh, q.kernel_width = c.kw;
    p.stride_depth = c.sd, q.stride_height = c.sh, q.stride_width = c.sw;
    p.dilation_depth = c.dd, q.dilation_height = c.dh, q.dilation_width = c.dw;
    p.padding_front = c.pf, q.padding_top = c.pt, q.padding_left = c.pl;
    q.output_min = c.lo, q.output_max = c.hi;
    const std::vector<float> in = Random(static_cast<size_t>(c.batch) * c.d * c.h * c.w * c.cin, 21);
    const std::vector<float> w = Random(static_cast<size_t>(c.kd) * c.kh * c.kw * c.cin * c.cout, 22);
    const std::vector<float> bias = Random(c.cout, 23);
    std::string error;
    auto op = Conv3DOperator::Create(p, w.data(), bias.data(), &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(static_cast<size_t>(c.batch) * c.od * c.oh * c.ow * c.cout, -7.0f);
    op->Run(in.data(), out.data(), pool());
    for (int n = 0; n < c.batch; ++n)
      for (int z = 0; z < c.od; ++z)
        for (int y = 0; y < c.oh; ++y)
          for (int x = 0; x < c.ow; ++x)
            for (int o = 0; o < c.cout; ++o) {
              double sum = bias[o], magnitude = std::abs(bias[o]);
              for (int a = 0; a < c.kd; ++a)
                for (int b = 0; b < c.kh; ++b)
                  for (int e = 0; e < c.kw; ++e) {
                    const int iz = z * c.sd + a * c.dd - c.pf, iy = y * c.sh + b * c.dh - c.pt,
                              ix = x * c.sw + e * c.dw - c.pl;
                    if (iz < 0 || iz >= c.d || iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                    for (int i = 0; i < c.cin; ++i) {
                      const double v = in[(((static_cast<size_t>(n) * c.d + iz) * c.h + iy) * c.w + ix) * c.cin + i] *
                                       w[(((static_cast<size_t>(a) * c.kh + b) * c.kw + e) * c.cin + i) * c.cout + o];
                      sum += v;
                      magnitude += std::abs(v);
                    }
                  }
              const double want = std::min<double>(std::max<double>(sum, c.lo), c.hi);
              const size_t at = (((static_cast<size_t>(n) * c.od + z) * c.oh + y) * c.ow + x) * c.cout + o;
              ASSERT_NEAR(out[at], want, 1e-6 * magnitude + 1e-7) << "case od " << c.od << " at " << at;
            }
  }
  std::string error;
  Conv3DParams bad;
  bad.input_depth = 0;
  EXPECT_EQ(Conv3DOperator::Create(bad, nullptr, nullptr, &error), nullptr);
  EXPECT_NE(error.find("conv3d: depth 0"), std::string::npos) << error;
}

// GATHER_ND's slices by precomputed offsets; offsets past the input refused.
TEST_P(OperatorsTest, GatherCopiesSlicesByOffset) {
  const std::vector<float> in = Random(6 * 70, 9);
  const std::vector<size_t> offsets = {0, 0, 350, 70, 280, 350};
  std::string error;
  auto op = GatherOperator::Create(in.size(), offsets, offsets.size() * 70, &error);
  ASSERT_NE(op, nullptr) << error;
  std::vector<float> out(offsets.size() * 70);
  op->Run(in.data(), out.data(), pool());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], in[offsets[i / 70] + i % 70]) << i;
  EXPECT_EQ(GatherOperator::Create(in.size(), {0, 351}, 140, &error), nullptr);
  EXPECT_NE(error.find("leave the input"), std::string::npos) << error;
}

// GATHER_ND by run-time int32 indices: slices past k, or single floats;
// the first out-of-range tuple is named and fails the run.
TEST_P(OperatorsTest, GatherNdReadsIndicesAtRunTime) {
  const Shape params = {3, 4, 5};
  const std::vector<float> in = Random(60, 4);
  for (int k : {1, 2, 3}) {
    SCOPED_TRACE("k " + std::to_string(k));
    const int tuples = 37;
    std::vector<int32_t> index(static_cast<size_t>(tuples * k));
    for (int t = 0; t < tuples; ++t) {
      for (int d = 0; d < k; ++d) index[t * k + d] = (t * 7 + d * 3) % params[d];
    }
    Shape out_shape = {tuples};
    out_shape.insert(out_shape.end(), params.begin() + k, params.end());
    std::string error;
    auto op = GatherNdOperator::Create(params, {tuples, k}, out_shape, &error);
    ASSERT_NE(op, nullptr) << error;
    const size_t slice = NumElements(out_shape) / tuples;
    std::vector<float> bits(index.size()), out(NumElements(out_shape));
    std::memcpy(bits.data(), index.data(), index.size() * 4);
    const float* whole[] = {bits.data()};
    ASSERT_TRUE(op->Run(in.data(), whole, out.data(), pool(), &error)) << error;
    auto check = [&](const std::vector<float>& got) {
      for (int t = 0; t < tuples; ++t) {
        size_t offset = 0;
        for (int d = 0; d < k; ++d) offset = offset * params[d] + index[t * k + d];
        for (size_t j = 0; j < slice; ++j) ASSERT_EQ(got[t * slice + j], in[offset * slice + j]) << t;
      }
    };
    check(out);
    // The same tuples as one column per index tensor (a CONCATENATION fused in).
    std::vector<std::vector<float>> columns(k, std::vector<float>(tuples));
    std::vector<const float*> column_pointers;
    for (int d = 0; d < k; ++d) {
      for (int t = 0; t < tuples; ++t) std::memcpy(&columns[d][t], &index[t * k + d], 4);
      column_pointers.push_back(columns[d].data());
    }
    auto by_columns = GatherNdOperator::Create(params, {tuples, k}, out_shape, &error, std::vector<int>(k, 1));
    ASSERT_NE(by_columns, nullptr) << error;
    std::fill(out.begin(), out.end(), -1.0f);
    ASSERT_TRUE(by_columns->Run(in.data(), column_pointers.data(), out.data(), pool(), &error)) << error;
    check(out);
    index[20 * k + k - 1] = params[k - 1];  // one past the end
    index[30 * k] = -1;
    std::memcpy(bits.data(), index.data(), index.size() * 4);
    EXPECT_FALSE(op->Run(in.data(), whole, out.data(), pool(), &error));
    EXPECT_NE(error.find("index tuple 20 ("), std::string::npos) << error;
    EXPECT_NE(error.find("is outside params [3,4,5]"), std::string::npos) << error;
  }
  std::string error;
  EXPECT_EQ(GatherNdOperator::Create(params, {2, 3}, {2}, &error, {1, 1}), nullptr);
  EXPECT_NE(error.find("do not add up"), std::string::npos) << error;
  EXPECT_EQ(GatherNdOperator::Create(params, {2, 4}, {2}, &error), nullptr);
  EXPECT_NE(error.find("do not give"), std::string::npos) << error;
}

// A group's ops read values computed before them, inputs of n elements or
// one; results written to their output slots, scratch for the others.
TEST_P(OperatorsTest, ElementwiseGroupRunsItsOpsChunkByChunk) {
  const size_t n = 5000;  // five chunks, the last ragged
  const std::vector<float> x = Random(n, 31), y = Random(n, 32);
  const float two = 2.0f;
  std::vector<GroupOp> ops(3);
  ops[0].kind = GroupOp::Kind::kBinary;  // x * 2 (a single value)
  ops[0].binary_op = kernels::BinaryOp::kMul;
  ops[0].operands = {0, 2};
  ops[1].kind = GroupOp::Kind::kUnary;  // tanh(x * 2), clamped to [-0.5, 0.5], not written
  ops[1].unary_op = kernels::UnaryOp::kTanh;
  ops[1].unary_params.lo = -0.5f;
  ops[1].unary_params.hi = 0.5f;
  ops[1].operands = {3};
  ops[2].kind = GroupOp::Kind::kBinary;  // that - y, written to slot 0
  ops[2].binary_op = kernels::BinaryOp::kSub;
  ops[2].operands = {4, 1};
  ops[2].output = 0;
  ops[0].output = 1;  // x * 2 written too
  std::string error;
  auto op = ElementwiseGroupOperator::Create(n, {n, n, 1}, ops, &error);
  ASSERT_NE(op, nullptr) << error;
  std::vector<float> diff(n), doubled(n);
  const float* inputs[] = {x.data(), y.data(), &two};
  float* outputs[] = {diff.data(), doubled.data()};
  op->Run(inputs, outputs, pool());
  const auto& k = kernels::SelectElementwiseKernels();
  std::vector<float> want(n);
  k.Unary(kernels::UnaryOp::kTanh)(n, doubled.data(), want.data(), ops[1].unary_params);
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(doubled[i], x[i] * 2.0f) << i;
    ASSERT_EQ(diff[i], want[i] - y[i]) << i;
  }
  std::vector<GroupOp> bad = ops;
  bad[1].operands = {5};  // its own result
  EXPECT_EQ(ElementwiseGroupOperator::Create(n, {n, n, 1}, bad, &error), nullptr);
  EXPECT_NE(error.find("op 1 reads value 5, not computed before it"), std::string::npos) << error;
  EXPECT_EQ(ElementwiseGroupOperator::Create(n, {n, 7, 1}, ops, &error), nullptr);
  EXPECT_NE(error.find("input 1 of 7 elements for 5000"), std::string::npos) << error;
}

// A global average pool at batch 1 with many rows: with several threads
// each sums its own range of rows, the partials added after (another order,
// within float rounding of the exact mean).
TEST_P(OperatorsTest, MeanOfManyRowsSplitAcrossThreads) {
  const Shape shape = {1, 29, 31, 72};  // 899 rows of 72: above the split threshold
  const std::vector<float> in = Random(NumElements(shape), 9);
  for (bool sum : {false, true}) {
    std::string error;
    auto op = ReduceOperator::Create(shape, 1, 2, &error, sum ? Reduction::kSum : Reduction::kMean);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(72);
    for (int repeat = 0; repeat < 2; ++repeat) {  // the partials are reused
      op->Run(in.data(), out.data(), pool());
      for (size_t c = 0; c < 72; ++c) {
        double want = 0.0;
        for (size_t r = 0; r < 899; ++r) want += in[r * 72 + c];
        if (!sum) want /= 899.0;
        ASSERT_NEAR(out[c], want, sum ? 2e-4 : 2e-7) << c << " sum " << sum;
      }
    }
  }
}

// REDUCE_MAX over axis ranges (the innermost, a global pool, every axis),
// at batch 1 with many rows (split across threads), as the builtin: from the
// lowest float, a NaN never wins, -inf inputs give the lowest float.
TEST_P(OperatorsTest, ReduceMaxAndMinOverAxisRanges) {
  for (Reduction reduction : {Reduction::kMax, Reduction::kMin})
  for (const Shape& shape : {Shape{2, 7, 6, 45}, Shape{1, 29, 31, 72}}) {
    const bool minimum = reduction == Reduction::kMin;
    std::vector<float> in = Random(NumElements(shape), 16);
    in[0] = std::numeric_limits<float>::quiet_NaN();
    in[5] = minimum ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    for (const auto& axes : std::vector<std::pair<int, int>>{{1, 2}, {3, 3}, {0, 3}}) {
      std::string error;
      auto op = ReduceOperator::Create(shape, axes.first, axes.second, &error, reduction);
      ASSERT_NE(op, nullptr) << error;
      size_t reduced = 1;
      for (int a = axes.first; a <= axes.second; ++a) reduced *= shape[a];
      std::vector<float> out(in.size() / reduced),
          want(out.size(), minimum ? std::numeric_limits<float>::max() : std::numeric_limits<float>::lowest());
      op->Run(in.data(), out.data(), pool());
      for (size_t i = 0; i < in.size(); ++i) {
        std::vector<int> c = Coords(i, shape);
        size_t o = 0;
        for (int d = 0; d < 4; ++d) {
          if (d < axes.first || d > axes.second) o = o * shape[d] + c[d];
        }
        if (minimum ? in[i] < want[o] : in[i] > want[o]) want[o] = in[i];
      }
      for (size_t o = 0; o < out.size(); ++o) ASSERT_EQ(out[o], want[o]) << ShapeText(shape) << " axes " << axes.first;
    }
  }
}

TEST_P(OperatorsTest, SoftmaxRows) {
  const std::vector<float> in = Random(3 * 1000, 8);
  auto op = SoftmaxOperator::Create(3, 1000, 0.5f);
  std::vector<float> out(in.size());
  op->Run(in.data(), out.data(), pool());
  for (int r = 0; r < 3; ++r) {
    double max = -1e30, sum = 0;
    for (int i = 0; i < 1000; ++i) max = std::max<double>(max, in[r * 1000 + i]);
    for (int i = 0; i < 1000; ++i) sum += std::exp((in[r * 1000 + i] - max) * 0.5);
    for (int i = 0; i < 1000; ++i) {
      ASSERT_NEAR(out[r * 1000 + i], std::exp((in[r * 1000 + i] - max) * 0.5) / sum, 1e-8);
    }
  }
}

// Every dim padded; and trailing dims not padded (NHWC padded in H and W,
// only the batch, nothing), which the operator copies as longer rows.
TEST_P(OperatorsTest, PadEveryDim) {
  const Shape shape = {2, 3, 4, 5};
  using Amounts = std::vector<std::pair<int, int>>;
  for (const Amounts& amounts : {Amounts{{1, 0}, {0, 2}, {1, 1}, {2, 1}}, Amounts{{0, 0}, {1, 1}, {2, 1}, {0, 0}},
                                 Amounts{{0, 1}, {0, 0}, {0, 0}, {0, 0}}, Amounts{{0, 0}, {0, 0}, {0, 0}, {0, 0}},
                                 Amounts{{0, 0}, {0, 0}, {3, 0}, {0, 0}}}) {
    const std::vector<float> in = Random(NumElements(shape), 9);
    std::string error;
    auto op = PadOperator::Create(shape, amounts, 1.5f, &error);
    ASSERT_NE(op, nullptr) << error;
    const Shape out_shape = op->output_shape();
    for (int d = 0; d < 4; ++d) ASSERT_EQ(out_shape[d], shape[d] + amounts[d].first + amounts[d].second);
    std::vector<float> out(NumElements(out_shape), -7.0f);
    op->Run(in.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      std::vector<int> c = Coords(i, out_shape);
      bool inside = true;
      for (int d = 0; d < 4; ++d) {
        c[d] -= amounts[d].first;
        inside = inside && c[d] >= 0 && c[d] < shape[d];
      }
      ASSERT_EQ(out[i], inside ? in[BroadcastIndex(shape, c)] : 1.5f) << i << " of " << ShapeText(out_shape);
    }
  }
}

// MIRROR_PAD against the builtin's index rule: before the input, REFLECT
// reads -i and SYMMETRIC -i - 1; after it, 2n - 2 - i and 2n - 1 - i. Every
// dim mirrored, NHWC mirrored in H and W (rows of C-float elements), padding
// up to the limit, rank 1; past the limit refused.
TEST_P(OperatorsTest, MirrorPadReflectAndSymmetric) {
  using Amounts = std::vector<std::pair<int, int>>;
  struct Case {
    Shape shape;
    Amounts amounts;
  };
  for (PadMode mode : {PadMode::kReflect, PadMode::kSymmetric}) {
    const int edge = mode == PadMode::kReflect ? 0 : 1;
    const int full = mode == PadMode::kReflect ? 2 : 3;  // the most a dim of 3 takes
    for (const Case& c : std::vector<Case>{{{2, 3, 4, 5}, {{1, 0}, {0, full}, {1, 2}, {2, 1}}},
                                           {{2, 7, 9, 3}, {{0, 0}, {4, 4}, {1, 3}, {0, 0}}},
                                           {{1, 6, 5, 45}, {{0, 0}, {0, 0}, {2, 2}, {0, 0}}},
                                           {{7}, {{3, 5}}},
                                           {{2, 3, 4}, {{0, 0}, {0, 0}, {0, 0}}}}) {
      const std::vector<float> in = Random(NumElements(c.shape), 21);
      std::string error;
      auto op = PadOperator::Create(c.shape, c.amounts, 0.0f, &error, mode);
      ASSERT_NE(op, nullptr) << error;
      const Shape out_shape = op->output_shape();
      std::vector<float> out(NumElements(out_shape), -7.0f);
      op->Run(in.data(), out.data(), pool());
      const int rank = static_cast<int>(c.shape.size());
      for (size_t i = 0; i < out.size(); ++i) {
        std::vector<int> coords = Coords(i, out_shape);
        for (int d = 0; d < rank; ++d) {
          const int n = c.shape[d];
          int x = coords[d] - c.amounts[d].first;
          if (x < 0) x = -x - edge;
          if (x >= n) x = 2 * n - 2 + edge - x;
          coords[d] = x;
        }
        ASSERT_EQ(out[i], in[BroadcastIndex(c.shape, coords)]) << i << " of " << ShapeText(out_shape);
      }
    }
    std::string error;
    EXPECT_EQ(PadOperator::Create({1, 3, 4, 2}, {{0, 0}, {full + 1, 0}, {0, 0}, {0, 0}}, 0.0f, &error, mode), nullptr);
    EXPECT_NE(error.find("reaches past the input"), std::string::npos) << error;
  }
}

// Channel slices of NHWC (C2f's split), row and column slices, slices on
// several dims, a whole copy, and ranks 1 to 5; out-of-range boxes refused.
TEST_P(OperatorsTest, SliceAnyBox) {
  struct Case {
    Shape input;
    std::vector<int> begin;
    Shape output;
  };
  for (const Case& c : std::vector<Case>{{{1, 40, 40, 32}, {0, 0, 0, 16}, {1, 40, 40, 16}},
                                         {{2, 7, 5, 45}, {0, 0, 0, 0}, {2, 7, 5, 22}},
                                         {{2, 7, 5, 45}, {1, 2, 0, 0}, {1, 3, 5, 45}},
                                         {{2, 7, 5, 45}, {0, 1, 2, 3}, {2, 5, 3, 40}},
                                         {{3, 4, 5}, {0, 0, 0}, {3, 4, 5}},
                                         {{129}, {7}, {100}},
                                         {{2, 3, 4, 5, 6}, {1, 0, 1, 2, 0}, {1, 3, 2, 3, 6}},
                                         // short runs: one float of a pair, three of six, rank 2
                                         {{2, 7, 5, 2}, {0, 0, 0, 1}, {2, 7, 5, 1}},
                                         {{2, 5, 6}, {0, 1, 2}, {2, 3, 3}},
                                         {{9, 4}, {1, 1}, {7, 2}}}) {
    const std::vector<float> in = Random(NumElements(c.input), 12);
    std::string error;
    auto op = SliceOperator::Create(c.input, c.begin, c.output, &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(NumElements(c.output), -7.0f);
    op->Run(in.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      std::vector<int> ic = Coords(i, c.output);
      for (size_t d = 0; d < ic.size(); ++d) ic[d] += c.begin[d];
      ASSERT_EQ(out[i], in[BroadcastIndex(c.input, ic)]) << ShapeText(c.input) << " element " << i;
    }
  }
  std::string error;
  EXPECT_EQ(SliceOperator::Create({1, 8, 8, 16}, {0, 0, 0, 8}, {1, 8, 8, 9}, &error), nullptr);
  EXPECT_NE(error.find("slice: 9 from 8 of dim 3 leaves the input [1,8,8,16]"), std::string::npos) << error;
  EXPECT_EQ(SliceOperator::Create({1, 8, 8, 16}, {0, 0}, {1, 8, 8, 16}, &error), nullptr);
  EXPECT_NE(error.find("slice: begin"), std::string::npos) << error;
}

// YOLOv5's Focus (every other row and column, four phases), a channel
// stride, strides on every dim, a plain box (strides of 1: merged runs);
// negative strides (REVERSE_V2: one dim, the innermost, several dims that
// merge into one backward run, a step of -2); boxes that leave the input
// refused, either way.
TEST_P(OperatorsTest, StridedSliceStepsThroughEachDim) {
  struct Case {
    Shape input;
    std::vector<int> begin, strides;
    Shape output;
  };
  for (const Case& c : std::vector<Case>{{{1, 8, 10, 3}, {0, 0, 0, 0}, {1, 2, 2, 1}, {1, 4, 5, 3}},
                                         {{1, 8, 10, 3}, {0, 1, 1, 0}, {1, 2, 2, 1}, {1, 4, 5, 3}},
                                         {{2, 7, 9, 45}, {0, 1, 0, 3}, {1, 3, 2, 5}, {2, 2, 5, 9}},
                                         {{2, 5, 6, 7}, {1, 1, 2, 0}, {1, 1, 1, 1}, {1, 3, 4, 7}},
                                         {{129}, {5}, {4}, {31}},
                                         {{2, 5, 6, 7}, {0, 4, 0, 0}, {1, -1, 1, 1}, {2, 5, 6, 7}},
                                         {{2, 5, 6, 7}, {0, 0, 0, 6}, {1, 1, 1, -1}, {2, 5, 6, 7}},
                                         {{2, 5, 6, 7}, {0, 4, 5, 6}, {1, -1, -1, -1}, {2, 5, 6, 7}},
                                         {{3, 9, 45}, {2, 8, 0}, {-1, -2, 1}, {3, 5, 45}},
                                         {{129}, {128}, {-1}, {129}}}) {
    const std::vector<float> in = Random(NumElements(c.input), 19);
    std::string error;
    auto op = StridedSliceOperator::Create(c.input, c.begin, c.strides, c.output, &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(NumElements(c.output), -7.0f);
    op->Run(in.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      std::vector<int> ic = Coords(i, c.output);
      for (size_t d = 0; d < ic.size(); ++d) ic[d] = c.begin[d] + ic[d] * c.strides[d];
      ASSERT_EQ(out[i], in[BroadcastIndex(c.input, ic)]) << ShapeText(c.input) << " element " << i;
    }
  }
  std::string error;
  EXPECT_EQ(StridedSliceOperator::Create({1, 8, 8, 3}, {0, 1, 0, 0}, {1, 2, 2, 1}, {1, 5, 4, 3}, &error), nullptr);
  EXPECT_NE(error.find("strided slice: begin [0,1,0,0] and strides [1,2,2,1] of [1,5,4,3] elements leave the input"),
            std::string::npos)
      << error;
  EXPECT_EQ(StridedSliceOperator::Create({1, 8, 8, 3}, {0, 0, 0, 0}, {1, 0, 2, 1}, {1, 4, 4, 3}, &error), nullptr);
  EXPECT_EQ(StridedSliceOperator::Create({1, 8, 8, 3}, {0, 6, 0, 0}, {1, -1, 1, 1}, {1, 8, 8, 3}, &error), nullptr);
  EXPECT_NE(error.find("leave the input"), std::string::npos) << error;
  EXPECT_EQ(StridedSliceOperator::Create({1, 8, 8, 3}, {0, 8, 0, 0}, {1, -1, 1, 1}, {1, 8, 8, 3}, &error), nullptr);
}

TEST_P(OperatorsTest, TransposeAnyPermutation) {
  for (const auto& c : std::vector<std::pair<Shape, std::vector<int>>>{
           {{1, 5, 6, 7}, {0, 3, 1, 2}}, {{2, 45, 4, 3}, {0, 2, 3, 1}}, {{2, 3, 4}, {2, 0, 1}},
           {{129, 7}, {1, 0}}, {{1, 224, 224, 3}, {0, 3, 1, 2}}, {{2, 3, 4, 5, 6}, {4, 2, 0, 3, 1}},
           // NCHW images to NHWC (3 planes: interleaved in registers; 2 and 4), odd sizes, batch 2.
           {{1, 3, 224, 224}, {0, 2, 3, 1}}, {{2, 3, 17, 19}, {0, 2, 3, 1}}, {{1, 2, 9, 7}, {0, 2, 3, 1}},
           {{2, 4, 9, 9}, {0, 2, 3, 1}},
           // Feature maps both ways: tiles over both dims, edges of every size.
           {{1, 20, 37, 29}, {0, 2, 3, 1}}, {{2, 37, 29, 20}, {0, 3, 1, 2}}, {{1, 112, 112, 32}, {0, 3, 1, 2}}}) {
    const Shape& shape = c.first;
    const std::vector<float> in = Random(NumElements(shape), 10);
    std::string error;
    auto op = TransposeOperator::Create(shape, c.second, &error);
    ASSERT_NE(op, nullptr) << error;
    Shape out_shape;
    for (int p : c.second) out_shape.push_back(shape[p]);
    std::vector<float> out(in.size());
    op->Run(in.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      const std::vector<int> oc = Coords(i, out_shape);
      std::vector<int> ic(shape.size());
      for (size_t d = 0; d < shape.size(); ++d) ic[c.second[d]] = oc[d];
      ASSERT_EQ(out[i], in[BroadcastIndex(shape, ic)]) << ShapeText(shape);
    }
  }
  std::string error;
  EXPECT_EQ(TransposeOperator::Create({2, 3}, {0, 0}, &error), nullptr);
}

// A pooled vector over a feature map (DeepLab's image pooling), a map over
// channels, inner and outer dims at once, new leading dims, a scalar, a
// copy, a single float; shapes that do not broadcast refused. Every element against the
// numpy rule (BroadcastIndex).
TEST_P(OperatorsTest, BroadcastToRepeatsDimsOfOne) {
  for (const auto& c : std::vector<std::pair<Shape, Shape>>{{{2, 1, 1, 45}, {2, 9, 11, 45}},
                                                            {{2, 9, 11, 1}, {2, 9, 11, 7}},
                                                            {{1, 5, 1, 3}, {4, 5, 6, 3}},
                                                            {{6, 1}, {2, 3, 6, 129}},
                                                            {{1}, {3, 4}},
                                                            {{3, 4, 5}, {3, 4, 5}},
                                                            {{1, 1}, {1, 1, 1}},
                                                            {{1, 1, 1, 1, 2}, {2, 3, 1, 4, 2}}}) {
    const Shape& in_shape = c.first;
    const Shape& out_shape = c.second;
    const std::vector<float> in = Random(NumElements(in_shape), 14);
    std::string error;
    auto op = BroadcastOperator::Create(in_shape, out_shape, &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(NumElements(out_shape), -7.0f);
    op->Run(in.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i], in[BroadcastIndex(in_shape, Coords(i, out_shape))])
          << ShapeText(in_shape) << " to " << ShapeText(out_shape) << " element " << i;
    }
  }
  std::string error;
  EXPECT_EQ(BroadcastOperator::Create({2, 1, 3}, {2, 4, 4}, &error), nullptr);
  EXPECT_NE(error.find("broadcast_to: input [2,1,3] does not broadcast to [2,4,4]"), std::string::npos) << error;
  EXPECT_EQ(BroadcastOperator::Create({1, 2, 3}, {2, 3}, &error), nullptr);
  EXPECT_NE(error.find("does not broadcast"), std::string::npos) << error;
}

TEST_P(OperatorsTest, ConcatenateAlongEachAxis) {
  for (int axis : {0, 1, 3}) {
    std::vector<Shape> shapes = {{2, 4, 5, 7}, {2, 4, 5, 7}, {2, 4, 5, 7}};
    for (int i = 0; i < 3; ++i) shapes[i][axis] = axis == 3 ? std::vector<int>{7, 45, 129}[i] : i + 1;
    std::vector<std::vector<float>> ins;
    std::vector<const float*> pointers;
    for (int i = 0; i < 3; ++i) {
      ins.push_back(Random(NumElements(shapes[i]), 11 + i));
      pointers.push_back(ins.back().data());
    }
    // Whole inputs; then a part of each (a SLICE fused in): the second
    // input's last index, all of the third but its first.
    using Ranges = std::vector<std::pair<int, int>>;
    const Ranges whole;
    const Ranges parts = {{0, shapes[0][axis]}, {shapes[1][axis] - 1, 1}, {1, shapes[2][axis] - 1}};
    for (const Ranges& ranges : {whole, parts}) {
      std::string error;
      auto op = ConcatOperator::Create(shapes, axis, -kInf, kInf, &error, ranges);
      ASSERT_NE(op, nullptr) << error;
      const Shape out_shape = op->output_shape();
      std::vector<float> out(NumElements(out_shape));
      op->Run(pointers.data(), out.data(), pool());
      for (size_t i = 0; i < out.size(); ++i) {
        std::vector<int> c = Coords(i, out_shape);
        int which = 0;
        auto taken = [&](int n) { return ranges.empty() ? shapes[n][axis] : ranges[n].second; };
        while (c[axis] >= taken(which)) c[axis] -= taken(which++);
        if (!ranges.empty()) c[axis] += ranges[which].first;
        ASSERT_EQ(out[i], ins[which][BroadcastIndex(shapes[which], c)]) << axis << " parts " << !ranges.empty();
      }
    }
  }
  std::string error;
  EXPECT_EQ(ConcatOperator::Create({{1, 2, 3}, {1, 2, 4}}, 2, -kInf, kInf, &error, {{0, 3}, {2, 3}}), nullptr);
  EXPECT_NE(error.find("concatenation: 3 from 2 leaves input [1,2,4]"), std::string::npos) << error;
}

// Columns of one float each joined along the last axis (grid_sample's
// index tuples): whole inputs of [..., 1], and one float taken from pairs.
TEST_P(OperatorsTest, ConcatenateSingleFloatsIntoTuples) {
  for (bool parts : {false, true}) {
    const int width = parts ? 2 : 1;
    const std::vector<Shape> shapes(4, Shape{3, 5, 7, width});
    std::vector<std::vector<float>> ins;
    std::vector<const float*> pointers;
    for (int i = 0; i < 4; ++i) {
      ins.push_back(Random(NumElements(shapes[i]), 21 + i));
      pointers.push_back(ins.back().data());
    }
    const std::vector<std::pair<int, int>> ranges =
        parts ? std::vector<std::pair<int, int>>{{1, 1}, {0, 1}, {1, 1}, {0, 1}} : std::vector<std::pair<int, int>>{};
    std::string error;
    auto op = ConcatOperator::Create(shapes, 3, -kInf, kInf, &error, ranges);
    ASSERT_NE(op, nullptr) << error;
    ASSERT_EQ(op->output_shape(), Shape({3, 5, 7, 4}));
    std::vector<float> out(3 * 5 * 7 * 4);
    op->Run(pointers.data(), out.data(), pool());
    for (size_t i = 0; i < out.size(); ++i) {
      const size_t pixel = i / 4, which = i % 4;
      const size_t taken = parts ? static_cast<size_t>(ranges[which].first) : 0;
      ASSERT_EQ(out[i], ins[which][pixel * width + taken]) << "parts " << parts << " element " << i;
    }
  }
}

// Against the builtin reference kernel's formula written out here: 2x up
// with half-pixel centers (the first row's weight is negative), aligned
// corners, plain scaling, and down; 45 channels.
TEST_P(OperatorsTest, ResizeBilinearFollowsTheBuiltinFormula) {
  struct Case {
    int in_h, in_w, out_h, out_w;
    bool align, half;
  };
  for (const Case& k : std::vector<Case>{{4, 5, 8, 10, false, true}, {5, 7, 8, 11, true, false},
                                         {5, 7, 8, 11, false, false}, {6, 6, 3, 4, false, true}}) {
    const int channels = 45;
    const Shape shape = {2, k.in_h, k.in_w, channels};
    const std::vector<float> in = Random(NumElements(shape), 13);
    std::string error;
    auto op = ResizeBilinearOperator::Create(shape, k.out_h, k.out_w, k.align, k.half, &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(static_cast<size_t>(2) * k.out_h * k.out_w * channels);
    op->Run(in.data(), out.data(), pool());
    auto source = [&](int i, int in_size, int out_size, int* lo, int* hi) {
      float scale = static_cast<float>(in_size) / out_size;
      if (k.align && out_size > 1) scale = static_cast<float>(in_size - 1) / (out_size - 1);
      const float v = k.half ? (i + 0.5f) * scale - 0.5f : i * scale;
      *lo = std::max(static_cast<int>(std::floor(v)), 0);
      *hi = std::min(static_cast<int>(std::ceil(v)), in_size - 1);
      return v;
    };
    for (int n = 0; n < 2; ++n)
      for (int y = 0; y < k.out_h; ++y)
        for (int x = 0; x < k.out_w; ++x) {
          int y0, y1, x0, x1;
          const float iy = source(y, k.in_h, k.out_h, &y0, &y1), ix = source(x, k.in_w, k.out_w, &x0, &x1);
          for (int c = 0; c < channels; ++c) {
            auto at = [&](int yy, int xx) { return in[((n * k.in_h + yy) * k.in_w + xx) * channels + c]; };
            const float want = at(y0, x0) * (1 - (iy - y0)) * (1 - (ix - x0)) + at(y1, x0) * (iy - y0) * (1 - (ix - x0)) +
                               at(y0, x1) * (1 - (iy - y0)) * (ix - x0) + at(y1, x1) * (iy - y0) * (ix - x0);
            ASSERT_NEAR(out[((n * k.out_h + y) * k.out_w + x) * channels + c], want, 1e-6f * (1 + std::abs(want)))
                << k.in_h << "x" << k.in_w << " -> " << k.out_h << "x" << k.out_w << " at " << y << "," << x;
          }
        }
  }
  std::string error;
  EXPECT_EQ(ResizeBilinearOperator::Create({2, 5, 7}, 8, 8, false, false, &error), nullptr);
  EXPECT_NE(error.find("resize bilinear: input [2,5,7] is not a non-empty NHWC image"), std::string::npos) << error;
}

// Against the builtin reference kernel written out here (zeros, each input
// pixel's products added to the outputs its window reaches, then the bias
// and the clamp): blocks (2x2 / 2, 3x3 / 3), overlapping windows (4x4 / 2
// with padding 1 as a DCGAN's, 3x3 / 2 with padding 1 and an output padding,
// 5x5 / 3, 3x3 / 1 as a stride-1 deconv, unequal kernel and stride per axis),
// odd channels, batch 2, outputs a tap never reaches (bias alone there).
TEST_P(OperatorsTest, TransposeConvAddsEveryWindowItReaches) {
  struct Case {
    int h, w, cin, cout, kh, kw, sh, sw, pad_top, pad_left, out_h, out_w;
    float lo, hi;
  };
  constexpr float kMax = 3.402823466e+38f;
  for (const Case& t : std::vector<Case>{{5, 7, 16, 8, 2, 2, 2, 2, 0, 0, 10, 14, 0.0f, kMax},
                                         {4, 3, 45, 7, 2, 2, 2, 2, 0, 0, 9, 7, -kMax, kMax},
                                         {3, 4, 7, 45, 3, 3, 3, 3, 0, 0, 9, 12, -1.0f, 1.0f},
                                         {6, 5, 16, 8, 4, 4, 2, 2, 1, 1, 12, 10, 0.0f, kMax},
                                         {5, 6, 8, 7, 3, 3, 2, 2, 1, 1, 10, 12, -kMax, kMax},
                                         {4, 4, 9, 5, 5, 5, 3, 3, 1, 2, 12, 11, -kMax, kMax},
                                         {6, 7, 8, 16, 3, 3, 1, 1, 1, 1, 6, 7, -kMax, kMax},
                                         {5, 4, 8, 8, 3, 2, 2, 1, 0, 0, 12, 6, -kMax, kMax}}) {
    TransposeConvParams p;
    p.batch = 2;
    p.input_height = t.h;
    p.input_width = t.w;
    p.input_channels = t.cin;
    p.output_height = t.out_h;
    p.output_width = t.out_w;
    p.output_channels = t.cout;
    p.kernel_height = t.kh;
    p.kernel_width = t.kw;
    p.stride_height = t.sh;
    p.stride_width = t.sw;
    p.padding_top = t.pad_top;
    p.padding_left = t.pad_left;
    p.output_min = t.lo;
    p.output_max = t.hi;
    const std::vector<float> in = Random(static_cast<size_t>(2) * t.h * t.w * t.cin, 30);
    const std::vector<float> w = Random(static_cast<size_t>(t.cout) * t.kh * t.kw * t.cin, 31);
    const std::vector<float> bias = Random(t.cout, 32);
    std::string error;
    auto op = TransposeConvOperator::Create(p, w.data(), bias.data(), &error);
    ASSERT_NE(op, nullptr) << error;
    const size_t out_size = static_cast<size_t>(2) * t.out_h * t.out_w * t.cout;
    std::vector<float> got(out_size, -7.0f), want(out_size, 0.0f);
    op->Run(in.data(), got.data(), pool());
    for (int n = 0; n < 2; ++n)
      for (int y = 0; y < t.h; ++y)
        for (int x = 0; x < t.w; ++x)
          for (int ky = 0; ky < t.kh; ++ky)
            for (int kx = 0; kx < t.kw; ++kx) {
              const int oy = y * t.sh + ky - t.pad_top, ox = x * t.sw + kx - t.pad_left;
              if (oy < 0 || oy >= t.out_h || ox < 0 || ox >= t.out_w) continue;
              for (int co = 0; co < t.cout; ++co)
                for (int ci = 0; ci < t.cin; ++ci) {
                  want[((static_cast<size_t>(n) * t.out_h + oy) * t.out_w + ox) * t.cout + co] +=
                      in[((n * t.h + y) * t.w + x) * t.cin + ci] * w[((co * t.kh + ky) * t.kw + kx) * t.cin + ci];
                }
            }
    for (size_t i = 0; i < out_size; ++i) {
      const float v = std::min(std::max(want[i] + bias[i % t.cout], t.lo), t.hi);
      ASSERT_NEAR(got[i], v, 1e-5f * (1 + std::abs(v))) << "case k " << t.kh << "x" << t.kw << " s " << t.sh
                                                         << " float " << i;
    }
  }
  TransposeConvParams p;
  p.input_height = p.input_width = 4;
  p.input_channels = p.output_channels = 8;
  p.output_height = p.output_width = 8;
  p.kernel_height = p.kernel_width = 3;
  p.stride_height = p.stride_width = 2;
  p.padding_top = -1;
  const std::vector<float> w(9 * 64, 0.5f);
  std::string error;
  EXPECT_EQ(TransposeConvOperator::Create(p, w.data(), nullptr, &error), nullptr);
  EXPECT_NE(error.find("transpose conv: negative padding"), std::string::npos) << error;
}

TEST_P(OperatorsTest, ResizeNearestFollowsTheBuiltinRule) {
  // Source indices the builtin kernel gives (computed by hand from its formula).
  EXPECT_EQ(NearestSourceIndex(3, 4, 8, false, false), 1);
  EXPECT_EQ(NearestSourceIndex(7, 5, 8, true, false), 4);
  EXPECT_EQ(NearestSourceIndex(2, 5, 8, true, false), 1);   // round(2 * 4/7 = 1.14)
  EXPECT_EQ(NearestSourceIndex(0, 5, 8, false, true), 0);   // floor(0.5 * 0.625)
  EXPECT_EQ(NearestSourceIndex(7, 5, 8, false, true), 4);   // floor(7.5 * 0.625 = 4.69)
  EXPECT_EQ(NearestSourceIndex(2, 6, 3, false, false), 4);
  const Shape shape = {2, 5, 7, 3};
  const std::vector<float> in = Random(NumElements(shape), 12);
  std::string error;
  auto op = ResizeNearestOperator::Create(shape, 8, 11, false, true, &error);
  ASSERT_NE(op, nullptr) << error;
  std::vector<float> out(2 * 8 * 11 * 3);
  op->Run(in.data(), out.data(), pool());
  for (int n = 0; n < 2; ++n)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 11; ++x)
        for (int c = 0; c < 3; ++c) {
          const int sy = NearestSourceIndex(y, 5, 8, false, true), sx = NearestSourceIndex(x, 7, 11, false, true);
          ASSERT_EQ(out[((n * 8 + y) * 11 + x) * 3 + c], in[((n * 5 + sy) * 7 + sx) * 3 + c]);
        }
}

// A grouped conv with a fused residual add and hard-swish, against loops.
TEST_P(OperatorsTest, GroupedConvWithOutputStage) {
  const int batch = 2, h = 7, w = 9, cin = 12, cout = 24, groups = 4, k = 3;
  const int gin = cin / groups, gout = cout / groups;
  SparseConvParams p;
  p.batch = batch;
  p.input_height = p.output_height = h;
  p.input_width = p.output_width = w;
  p.input_channels = cin;
  p.output_channels = cout;
  p.kernel_height = p.kernel_width = k;
  p.padding_top = p.padding_left = 1;
  p.groups = groups;
  p.output_min = 0.0f;  // the conv's own RELU, before the residual
  const std::vector<float> in = Random(batch * h * w * cin, 13), weights = Random(cout * k * k * gin, 14),
                           bias = Random(cout, 15), residual = Random(batch * h * w * cout, 16);
  std::vector<uint8_t> mask(h * w);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 4 != 1;
  OutputStage stage;
  stage.residual = true;
  stage.residual_hi = 4.0f;
  stage.unary = true;
  stage.unary_op = kernels::UnaryOp::kHardSwish;
  std::string error;
  auto op = SparseConvOperator::Create(p, weights.data(), bias.data(), nullptr, mask.data(), &error, stage);
  ASSERT_NE(op, nullptr) << error;
  // Each kernel (igemm in blocks: two taps per block, each group's weights
  // laid out block by block).
  const ConvKernelBlockings each;
  const std::pair<const char*, ConvBlocking> blockings[] = {
      {"igemm", each.igemm}, {"igemm in blocks", each.igemm_blocked}, {"conv rows", each.conv_rows}};
  for (const auto& [name, blocking] : blockings) {
    SCOPED_TRACE(name);
    op->set_blocking(blocking);
    ASSERT_EQ(op->uses_igemm(), &blocking != &blockings[2].second);
    std::vector<float> out(residual.size());
    op->Run(in.data(), out.data(), pool(), residual.data());
    for (int n = 0; n < batch; ++n)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int co = 0; co < cout; ++co) {
            const int g = co / gout;
            double acc = 0;
            for (int ky = 0; ky < k; ++ky)
              for (int kx = 0; kx < k; ++kx) {
                const int iy = y - 1 + ky, ix = x - 1 + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                for (int ci = 0; ci < gin; ++ci) {
                  acc += in[((n * h + iy) * w + ix) * cin + g * gin + ci] * weights[((co * k + ky) * k + kx) * gin + ci];
                }
              }
            const size_t o = ((n * h + y) * w + x) * cout + co;
            // A masked pixel's conv output is 0 (no add bias here), then the stage.
            const float conv = mask[y * w + x] ? std::max(static_cast<float>(acc) + bias[co], 0.0f) : 0.0f;
            const float sum = std::min(conv + residual[o], 4.0f);
            const float want = sum * std::min(std::max(sum + 3.0f, 0.0f), 6.0f) / 6.0f;
            ASSERT_NEAR(out[o], want, 2e-5) << n << " " << y << " " << x << " " << co;
          }
  }
  SparseConvParams bad = p;
  bad.groups = 5;
  EXPECT_EQ(SparseConvOperator::Create(bad, weights.data(), nullptr, nullptr, nullptr, &error), nullptr);
  EXPECT_NE(error.find("groups"), std::string::npos) << error;
}

// 1x1 convs between dense tensors take their pointers from arithmetic
// (ReadsPixelsDirectly): with a residual and hard-swish fused, batch 2, few
// pixels (2 threads split the channels: the stage runs per row) and many
// (whole rows in one call), a partial last tile; against loops.
TEST_P(OperatorsTest, PointwiseConvReadsPixelsDirectly) {
  struct Case {
    int h, w, cin, cout;
  };
  for (const Case& c : {Case{7, 7, 64, 160}, Case{28, 28, 24, 40}, Case{3, 5, 7, 45}}) {
    const int batch = 2;
    SparseConvParams p;
    p.batch = batch;
    p.input_height = p.output_height = c.h;
    p.input_width = p.output_width = c.w;
    p.input_channels = c.cin;
    p.output_channels = c.cout;
    p.output_max = 6.0f;
    const size_t pixels = static_cast<size_t>(batch) * c.h * c.w;
    const std::vector<float> in = Random(pixels * c.cin, 21), weights = Random(c.cout * c.cin, 22),
                             bias = Random(c.cout, 23), residual = Random(pixels * c.cout, 24);
    OutputStage stage;
    stage.residual = true;
    stage.residual_lo = -2.0f;
    stage.unary = true;
    stage.unary_op = kernels::UnaryOp::kHardSwish;
    std::string error;
    auto op = SparseConvOperator::Create(p, weights.data(), bias.data(), nullptr, nullptr, &error, stage);
    ASSERT_NE(op, nullptr) << error;
    if (op->uses_igemm()) {
      EXPECT_TRUE(op->ReadsPixelsDirectly());
    }
    std::vector<float> out(residual.size());
    op->Run(in.data(), out.data(), pool(), residual.data());
    for (size_t px = 0; px < pixels; ++px)
      for (int co = 0; co < c.cout; ++co) {
        double acc = 0;
        for (int ci = 0; ci < c.cin; ++ci) acc += in[px * c.cin + ci] * weights[co * c.cin + ci];
        const size_t o = px * c.cout + co;
        const float conv = std::min(static_cast<float>(acc) + bias[co], 6.0f);
        const float sum = std::max(conv + residual[o], -2.0f);
        const float want = sum * std::min(std::max(sum + 3.0f, 0.0f), 6.0f) / 6.0f;
        ASSERT_NEAR(out[o], want, 2e-5) << c.h << "x" << c.w << " pixel " << px << " channel " << co;
      }
  }
}

// A 1x1 conv with an input scale computes what it computes on the input
// times the scale: through the igemm and the tap-blocked kernel, masked or
// not, the scale changed between runs (each run's own), a tile tail (45).
TEST_P(OperatorsTest, InputScaleIsTheConvOfTheScaledInput) {
  // Small weights (one task), and 6 tiles of 256 channels (split over the
  // threads: tasks of at least 16 K weights).
  struct Case {
    int h, w, cin, cout;
  };
  for (const Case& shape : {Case{6, 5, 24, 45}, Case{4, 4, 256, 96}}) {
    const int h = shape.h, w = shape.w, cin = shape.cin, cout = shape.cout;
    SparseConvParams p = SameConv(1, h, w, cin, cout, 1, 1);
    const size_t pixels = static_cast<size_t>(h) * w;
    const std::vector<float> in = Random(pixels * cin, 31), weights = Random(cout * cin, 32), bias = Random(cout, 33),
                             add = Random(cout, 34);
    std::vector<uint8_t> mask(pixels, 1);
    for (size_t i = 0; i < pixels; i += 3) mask[i] = 0;
    // `op` with the scale of `seed` against `plain` on the scaled input.
    auto check = [&](SparseConvOperator* op, SparseConvOperator* plain, unsigned seed, const std::string& what) {
      const std::vector<float> scale = Random(cin, seed);
      std::vector<float> scaled_in(in.size());
      for (size_t i = 0; i < in.size(); ++i) scaled_in[i] = in[i] * scale[i % cin];
      std::vector<float> got(pixels * cout, -7.0f), want(pixels * cout, -7.0f);
      op->SetInputScale(scale.data(), pool());
      op->Run(in.data(), got.data(), pool());
      plain->Run(scaled_in.data(), want.data(), pool());
      for (size_t i = 0; i < got.size(); ++i) {
        // x * (s * w) against (x * s) * w: a rounding apart per product.
        ASSERT_NEAR(got[i], want[i], 1e-5f * (1.0f + std::abs(want[i]))) << what << ", seed " << seed << ", at " << i;
      }
    };
    // The igemm kernel (its reduction whole, or in blocks of 8 channels:
    // weights laid out block by block) and the tap-blocked one; after
    // scaled runs each switches to another (another kernel: the other
    // packing scales from its own weights; igemm blocks: laid out anew).
    const ConvKernelBlockings blockings;
    const ConvBlocking &igemm = blockings.igemm, &igemm_blocked = blockings.igemm_blocked,
                       &conv_rows = blockings.conv_rows;
    struct Kernel {
      const char* name;
      bool igemm;
      ConvBlocking blocking, then;
    };
    for (const Kernel& kernel : {Kernel{"igemm", true, igemm, conv_rows}, Kernel{"igemm in blocks", true, igemm_blocked, igemm},
                                 Kernel{"conv rows", false, conv_rows, igemm_blocked}}) {
      for (bool masked : {false, true}) {
        auto op = MakeConv(p, weights, bias, add, masked ? mask.data() : nullptr, OutputStage(), kernel.blocking);
        auto plain = MakeConv(p, weights, bias, add, masked ? mask.data() : nullptr, OutputStage(), kernel.blocking);
        ASSERT_NE(op, nullptr);
        ASSERT_TRUE(op->TakesInputScale());
        ASSERT_EQ(op->uses_igemm(), kernel.igemm);
        const std::string what = std::to_string(cin) + " -> " + std::to_string(cout) + ", " + kernel.name +
                                 (masked ? ", masked" : "");
        check(op.get(), plain.get(), 40, what);
        check(op.get(), plain.get(), 41, what);  // each run its own scale
        op->set_blocking(kernel.then);
        plain->set_blocking(kernel.then);
        check(op.get(), plain.get(), 42, what + ", then another blocking");
        check(op.get(), plain.get(), 43, what + ", then another blocking");
      }
    }
  }
}

// Rows computed band by band through ring layouts (input rows in a ring of
// 5, output rows in a ring of 2) give what one dense run gives, bit for bit.
TEST_P(OperatorsTest, ConvRowsThroughRingLayouts) {
  for (bool depthwise : {false, true}) {
    SparseConvParams p;
    p.batch = 2;
    p.input_height = 13;
    p.input_width = 9;
    p.input_channels = 5;
    p.output_channels = depthwise ? 5 : 7;
    p.depthwise = depthwise;
    p.kernel_height = p.kernel_width = 3;
    p.stride_height = p.stride_width = 2;
    p.padding_top = p.padding_left = 1;
    p.output_height = 7;
    p.output_width = 5;
    const std::vector<float> in = Random(2 * 13 * 9 * 5, 21);
    const std::vector<float> w = Random(depthwise ? 9 * 5 : 7 * 9 * 5, 22), bias = Random(p.output_channels, 23);
    std::vector<uint8_t> mask(35);
    for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 != 0;
    std::string error;
    auto dense = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, mask.data(), &error);
    auto banded = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, mask.data(), &error);
    ASSERT_NE(banded, nullptr) << error;
    const size_t out_row = 5 * p.output_channels;
    std::vector<float> want(2 * 35 * p.output_channels);
    dense->Run(in.data(), want.data(), pool());
    constexpr int kInRing = 5, kOutRing = 2;  // 2 output rows need 5 input rows at stride 2
    const PixelLayout in_layout{9 * 5, kInRing, kInRing * 9 * 5};
    const PixelLayout out_layout{out_row, kOutRing, kOutRing * out_row};
    banded->SetLayouts(in_layout, out_layout);
    std::vector<float> ring_in(2 * kInRing * 9 * 5), ring_out(2 * kOutRing * out_row);
    for (int b0 = 0; b0 < 7; b0 += kOutRing) {
      const int b1 = std::min(b0 + kOutRing, 7);
      for (int n = 0; n < 2; ++n) {
        for (int y = std::max(b0 * 2 - 1, 0); y < std::min((b1 - 1) * 2 + 2, 13); ++y) {
          std::copy(&in[((n * 13 + y) * 9) * 5], &in[((n * 13 + y + 1) * 9) * 5],
                    &ring_in[n * in_layout.image_stride + in_layout.Offset(y, 0, 5)]);
        }
      }
      banded->RunRows(ring_in.data(), ring_out.data(), pool(), nullptr, b0, b1);
      for (int n = 0; n < 2; ++n) {
        for (int y = b0; y < b1; ++y) {
          const float* got = &ring_out[n * out_layout.image_stride + out_layout.Offset(y, 0, p.output_channels)];
          for (size_t i = 0; i < out_row; ++i) {
            ASSERT_EQ(got[i], want[(n * 7 + y) * out_row + i]) << depthwise << " n " << n << " y " << y;
          }
        }
      }
    }
  }
}

// A dense depthwise conv of stride 1 (3x3 and 5x5, with a residual stage)
// band by band through ring layouts gives what one dense run gives, bit for
// bit; where the CPU has the image-rows kernel the banded one takes it, and a
// conv told to read masked inputs leaves it.
TEST_P(OperatorsTest, DepthwiseImageRowsThroughRingLayouts) {
  for (int k : {3, 5}) {
    SparseConvParams p = SameDepthwise(2, 11, 10, 19, k);
    p.output_min = -1.5f;
    const size_t in_row = 10 * 19, pixels = 11 * 10;
    const std::vector<float> in = Random(2 * pixels * 19, 31), residual = Random(2 * pixels * 19, 32);
    const std::vector<float> w = Random(k * k * 19, 33), bias = Random(19, 34);
    OutputStage stage;
    stage.residual = true;
    stage.residual_lo = -1.0f;
    std::string error;
    auto dense = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, nullptr, &error, stage);
    auto banded = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, nullptr, &error, stage);
    ASSERT_NE(banded, nullptr) << error;
    // Told to: rows of 10 are narrower than the AVX2 kernel's choice.
    ConvBlocking image_rows;
    image_rows.depthwise_image_rows = ConvBlocking::ImageRows::kAlways;
    banded->set_blocking(image_rows);
    EXPECT_EQ(banded->runs_by_image_rows(), kernels::SelectDepthwiseImageRows(nullptr) != nullptr);
    std::vector<float> want(2 * pixels * 19);
    dense->Run(in.data(), want.data(), pool(), residual.data());
    // 2 output rows need k + 1 input rows.
    RunThroughRings(banded.get(), in, 2, 11, in_row, in_row, k + 1, 2, k / 2, residual.data(), pool(), 0.0f,
                    [&](int n, int y, const float* got) {
                      for (size_t i = 0; i < in_row; ++i) {
                        ASSERT_EQ(got[i], want[(n * 11 + y) * in_row + i]) << "k " << k << " n " << n << " y " << y;
                      }
                    });
    // The image-rows kernel reads input rows whole: a conv that takes it
    // does not read masked inputs at a value (its producer writes them);
    // one told to go through pointers does.
    std::vector<uint8_t> producer_mask(pixels, 1);
    producer_mask[7] = 0;
    const std::vector<float> value(19, 0.25f);
    const bool has_kernel = kernels::SelectDepthwiseImageRows(nullptr) != nullptr;
    EXPECT_EQ(banded->can_read_masked_input(), !has_kernel);
    EXPECT_EQ(banded->ReadMaskedInput(producer_mask, value.data()), !has_kernel);
    ConvBlocking pointers;
    pointers.depthwise_image_rows = ConvBlocking::ImageRows::kNever;
    dense->set_blocking(pointers);
    ASSERT_TRUE(dense->ReadMaskedInput(producer_mask, value.data()));
    EXPECT_FALSE(dense->runs_by_image_rows());
  }
}

// A dense 1x1 conv reads and writes rows by arithmetic through ring layouts
// too (a banded step's): band by band, with rings of different heights (so
// they wrap at different rows) and a residual stage, it gives what one dense
// run gives, bit for bit.
TEST_P(OperatorsTest, PointwiseConvThroughRingLayoutsReadsRowsDirectly) {
  SparseConvParams p;
  p.batch = 2;
  p.input_height = p.output_height = 13;
  p.input_width = p.output_width = 7;
  p.input_channels = 24;
  p.output_channels = 45;
  p.output_min = -2.0f;
  const size_t in_row = 7 * 24, out_row = 7 * 45, pixels = 13 * 7;
  const std::vector<float> in = Random(2 * pixels * 24, 51), residual = Random(2 * pixels * 45, 52);
  const std::vector<float> w = Random(45 * 24, 53), bias = Random(45, 54);
  OutputStage stage;
  stage.residual = true;
  stage.residual_lo = -1.0f;
  std::string error;
  auto dense = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, nullptr, &error, stage);
  auto banded = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, nullptr, &error, stage);
  ASSERT_NE(banded, nullptr) << error;
  // Reading rows directly, it does not read masked inputs at a value (its
  // producer writes them); masked, it reads through pointers and does.
  std::vector<uint8_t> producer_mask(pixels, 1), mask(pixels, 1);
  producer_mask[5] = mask[9] = 0;
  const std::vector<float> value(24, 0.5f);
  EXPECT_TRUE(dense->ReadsPixelsDirectly());
  EXPECT_FALSE(dense->can_read_masked_input());
  EXPECT_FALSE(dense->ReadMaskedInput(producer_mask, value.data()));
  auto masked = SparseConvOperator::Create(p, w.data(), bias.data(), nullptr, mask.data(), &error);
  ASSERT_NE(masked, nullptr) << error;
  EXPECT_TRUE(masked->ReadMaskedInput(producer_mask, value.data()));
  std::vector<float> want(2 * pixels * 45);
  dense->Run(in.data(), want.data(), pool(), residual.data());
  for (int band : {1, 3, 4}) {
    RunThroughRings(banded.get(), in, 2, 13, in_row, out_row, band + 2, band, 0, residual.data(), pool(), 0.0f,
                    [&](int n, int y, const float* got) {
                      for (size_t i = 0; i < out_row; ++i) {
                        ASSERT_EQ(got[i], want[(n * 13 + y) * out_row + i]) << "band " << band << " n " << n << " y " << y;
                      }
                    });
    EXPECT_TRUE(banded->ReadsPixelsDirectly());
  }
}

// A masked depthwise conv by image rows (every pixel computed, the masked
// ones then set to the masked value, the residual stage on all) gives what
// the pointer kernel over the active pixels gives, bit for bit: in one run
// and band by band through rings, 3x3 and 5x5, its masked pixels written or
// skipped. kAuto takes image rows for few channels at this density and
// pointers for many.
TEST_P(OperatorsTest, MaskedDepthwiseByImageRowsMatchesPointers) {
  const bool has_kernel = kernels::SelectDepthwiseImageRows(nullptr) != nullptr;
  for (int k : {3, 5}) {
    for (bool skip : {false, true}) {
      SparseConvParams p = SameDepthwise(2, 12, 9, 21, k);
      p.output_min = -1.5f;
      p.output_max = 2.0f;
      const size_t row = 9 * 21, pixels = 12 * 9;
      const std::vector<float> in = Random(2 * pixels * 21, 41), residual = Random(2 * pixels * 21, 42);
      const std::vector<float> w = Random(k * k * 21, 43), bias = Random(21, 44), add = Random(21, 45);
      std::vector<uint8_t> mask(pixels);
      for (size_t i = 0; i < pixels; ++i) mask[i] = (i * 7) % 10 < 7;  // 70% kept
      OutputStage stage;
      stage.residual = !skip;  // a skipped masked value needs a stage without residual
      stage.residual_lo = -1.0f;
      auto make = [&](ConvBlocking::ImageRows choice) {
        ConvBlocking blocking;
        blocking.depthwise_image_rows = choice;
        return MakeConv(p, w, bias, add, mask.data(), stage, blocking, skip);
      };
      auto pointers = make(ConvBlocking::ImageRows::kNever);
      auto rows = make(ConvBlocking::ImageRows::kAlways);
      auto banded = make(ConvBlocking::ImageRows::kAlways);
      EXPECT_FALSE(pointers->runs_by_image_rows());
      EXPECT_EQ(rows->runs_by_image_rows(), has_kernel);
      EXPECT_EQ(make(ConvBlocking::ImageRows::kAuto)->runs_by_image_rows(),
                has_kernel && static_cast<size_t>(p.output_width) >= kernels::DepthwiseImageRowsMinWidth());
      const float fill = 1e30f;  // what a skipped pixel keeps
      std::vector<float> want(2 * pixels * 21, fill), got(2 * pixels * 21, fill);
      pointers->Run(in.data(), want.data(), pool(), residual.data());
      rows->Run(in.data(), got.data(), pool(), residual.data());
      RunThroughRings(
          banded.get(), in, 2, 12, row, row, k + 1, 2, k / 2, residual.data(), pool(), fill,
          [&](int n, int y, const float* ringed_row) {
            for (int x = 0; x < 9; ++x) {
              if (skip && !mask[y * 9 + x]) continue;
              for (int c = 0; c < 21; ++c) {
                const size_t i = ((n * 12 + y) * 9 + x) * 21 + c;
                ASSERT_EQ(got[i], want[i]) << "k " << k << " skip " << skip << " n " << n << " y " << y << " x " << x;
                ASSERT_EQ(ringed_row[x * 21 + c], want[i])
                    << "k " << k << " skip " << skip << " n " << n << " y " << y << " x " << x;
                if (!skip && !mask[y * 9 + x]) {
                  // act(add bias), then the residual stage (as OutputStage applies it).
                  const float masked = std::min(std::max(add[c], p.output_min), p.output_max);
                  ASSERT_EQ(want[i], std::max(masked + residual[i], stage.residual_lo)) << "masked pixel";
                }
              }
            }
          });
    }
  }
  // Many channels at this density: the pointer kernel (kAuto).
  const SparseConvParams p = SameDepthwise(1, 14, 14, 384, 3);
  const std::vector<float> w = Random(9 * 384, 46);
  std::vector<uint8_t> mask(14 * 14);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7) % 10 < 7;
  std::string error;
  auto op = SparseConvOperator::Create(p, w.data(), nullptr, nullptr, mask.data(), &error);
  ASSERT_NE(op, nullptr) << error;
  EXPECT_FALSE(op->runs_by_image_rows());
}

// A depthwise conv of stride 2 by image rows gives what the pointer kernel
// gives, bit for bit (kAuto takes image rows for 5x5 only, see
// ChooseImageRows): 3x3 and 5x5, even and odd input sizes, padding as
// PyTorch pads (k / 2 each side) and as TFLite's SAME on an even input
// (one less before), dense and masked (masked pixels written or skipped),
// with a residual stage, in one run and band by band through rings.
TEST_P(OperatorsTest, StridedDepthwiseByImageRowsMatchesPointers) {
  const bool has_kernel = kernels::SelectDepthwiseImageRows(nullptr) != nullptr;
  constexpr int kChannels = 21;
  for (int k : {3, 5}) {
    for (auto [height, width] : {std::pair{12, 14}, std::pair{11, 13}}) {
      for (int pad : {k / 2, k / 2 - 1}) {
        for (int masking : {0, 1, 2}) {  // none, written, skipped
          SCOPED_TRACE(testing::Message() << k << "x" << k << " on " << height << "x" << width << ", pad " << pad
                                          << ", masking " << masking);
          SparseConvParams p = SameConv(2, height, width, kChannels, kChannels, k, 2);
          p.depthwise = true;
          p.padding_top = p.padding_left = pad;
          p.output_min = -1.5f;
          p.output_max = 2.0f;
          const size_t in_row = width * kChannels, out_row = p.output_width * kChannels;
          const size_t out_pixels = static_cast<size_t>(p.output_height) * p.output_width;
          const std::vector<float> in = Random(2 * height * in_row, 61),
                                   residual = Random(2 * out_pixels * kChannels, 62);
          const std::vector<float> w = Random(k * k * kChannels, 63), bias = Random(kChannels, 64),
                                   add = Random(kChannels, 65);
          std::vector<uint8_t> mask(out_pixels);
          for (size_t i = 0; i < out_pixels; ++i) mask[i] = (i * 7) % 10 < 7;
          OutputStage stage;
          stage.residual = masking != 2;  // a skipped masked value needs a stage without residual
          stage.residual_lo = -1.0f;
          auto make = [&](ConvBlocking::ImageRows choice) {
            ConvBlocking blocking;
            blocking.depthwise_image_rows = choice;
            return MakeConv(p, w, bias, add, masking ? mask.data() : nullptr, stage, blocking, masking == 2);
          };
          auto pointers = make(ConvBlocking::ImageRows::kNever);
          auto rows = make(ConvBlocking::ImageRows::kAlways);
          auto banded = make(ConvBlocking::ImageRows::kAlways);
          ASSERT_TRUE(pointers && rows && banded);
          EXPECT_FALSE(pointers->runs_by_image_rows());
          EXPECT_EQ(rows->runs_by_image_rows(), has_kernel);
          // Left to itself, only a 5x5 conv of stride 2 takes image rows.
          EXPECT_EQ(make(ConvBlocking::ImageRows::kAuto)->runs_by_image_rows(),
                    has_kernel && k == 5 && static_cast<size_t>(p.output_width) >= kernels::DepthwiseImageRowsMinWidth());
          const float fill = 1e30f;  // what a skipped pixel keeps
          const float* res = stage.residual ? residual.data() : nullptr;
          std::vector<float> want(2 * out_pixels * kChannels, fill), got(want);
          pointers->Run(in.data(), want.data(), pool(), res);
          rows->Run(in.data(), got.data(), pool(), res);
          // A skipped masked pixel: neither path promises it a value.
          auto skipped = [&](size_t pixel) { return masking == 2 && !mask[pixel % out_pixels]; };
          for (size_t i = 0; i < want.size(); ++i) {
            if (!skipped(i / kChannels)) {
              ASSERT_EQ(got[i], want[i]) << "index " << i;
            }
          }
          // Bands of 2 output rows read 2 * 2 + k - 2 input rows; the ring
          // holds the k - 1 copied each side of them.
          const RingRun ring{2, height, p.output_height, 2, in_row, out_row, 2 * k + 2, 2, k - 1};
          RunThroughRings(banded.get(), in, ring, res, pool(), fill, [&](int n, int y, const float* ringed_row) {
            for (size_t i = 0; i < out_row; ++i) {
              if (skipped(y * p.output_width + i / kChannels)) continue;
              ASSERT_EQ(ringed_row[i], want[(n * p.output_height + y) * out_row + i]) << "n " << n << " y " << y;
            }
          });
        }
      }
    }
  }
}

// Rows so wide that a call by image rows takes only a few of them (its input
// rows capped at kImageRowsInputBytes: 77 KB each here, so one to three
// output rows per call): the same bits as the pointer kernel, stride 1 and 2.
TEST_P(OperatorsTest, WideImageRowsInSeveralCallsMatchPointers) {
  for (int stride : {1, 2}) {
    SparseConvParams p = SameConv(1, 12, 200, 96, 96, 3, stride);
    p.depthwise = true;
    p.output_max = 4.0f;
    const std::vector<float> in = Random(12 * 200 * 96, 71), w = Random(9 * 96, 72), bias = Random(96, 73);
    const std::vector<float> add(96, 0.0f);
    auto make = [&](ConvBlocking::ImageRows choice) {
      ConvBlocking blocking;
      blocking.depthwise_image_rows = choice;
      return MakeConv(p, w, bias, add, nullptr, OutputStage(), blocking);
    };
    auto rows = make(ConvBlocking::ImageRows::kAlways), pointers = make(ConvBlocking::ImageRows::kNever);
    ASSERT_TRUE(rows && pointers);
    const size_t out_floats = static_cast<size_t>(p.output_height) * p.output_width * 96;
    std::vector<float> got(out_floats, -9.0f), want(out_floats, -7.0f);
    rows->Run(in.data(), got.data(), pool());
    pointers->Run(in.data(), want.data(), pool());
    ASSERT_EQ(got, want) << "stride " << stride;
  }
}

// kAuto for a dense depthwise conv of many channels: pointers (the cost
// model) unless its plan runs it on one thread; image rows then, at stride 1
// only. Both give the same bits (the tests above).
TEST(OperatorChoiceTest, DenseDepthwiseTakesImageRowsOnOneThread) {
  const bool has_kernel = kernels::SelectDepthwiseImageRows(nullptr) != nullptr;
  // Rows narrower than the kernel's minimum (AVX2: 28) stay with pointers.
  for (int size : {14, 56})
  for (int stride : {1, 2}) {
    SparseConvParams p = SameConv(1, size, size, 480, 480, stride == 1 ? 3 : 5, stride);
    p.depthwise = true;
    const std::vector<float> w = Random(p.kernel_height * p.kernel_width * 480, 47);
    std::string error;
    auto op = SparseConvOperator::Create(p, w.data(), nullptr, nullptr, nullptr, &error);
    ASSERT_NE(op, nullptr) << error;
    const bool wide = static_cast<size_t>(p.output_width) >= kernels::DepthwiseImageRowsMinWidth();
    SCOPED_TRACE(testing::Message() << size << "x" << size << ", stride " << stride);
    EXPECT_FALSE(op->runs_by_image_rows()) << "threads not known";
    op->set_planned_threads(1);
    EXPECT_EQ(op->runs_by_image_rows(), has_kernel && stride == 1 && wide) << "1 thread";
    op->set_planned_threads(2);
    // The cost model (dense: up to 428 channels) for several threads.
    EXPECT_FALSE(op->runs_by_image_rows()) << "2 threads";
  }
  // A masked one keeps the cost model on one thread too (pointers here).
  SparseConvParams p = SameDepthwise(1, 14, 14, 480, 3);
  std::vector<uint8_t> mask(14 * 14);
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7) % 10 < 7;
  const std::vector<float> w = Random(9 * 480, 48);
  std::string error;
  auto op = SparseConvOperator::Create(p, w.data(), nullptr, nullptr, mask.data(), &error);
  ASSERT_NE(op, nullptr) << error;
  op->set_planned_threads(1);
  EXPECT_FALSE(op->runs_by_image_rows());
}

// A masked regular conv computing every pixel (ComputeAll: the masked ones
// overwritten with the masked value before the stage) gives what it gives
// over its active pixels alone, bit for bit: a 1x1 conv with a residual
// stage (which then reads rows directly), through rings too; a stride-2
// conv on 3 channels (kernel rows merged) with a sigmoid; a grouped conv;
// masked pixels written or skipped. kAuto computes all only with a stage
// applied as a pass and few multiply-adds per pixel.
TEST_P(OperatorsTest, MaskedConvComputingAllMatchesActivePixels) {
  struct Case {
    const char* name;
    int kernel, stride, cin, cout, groups;
    bool residual;
  };
  for (const Case& c : {Case{"1x1 residual", 1, 1, 16, 21, 1, true}, Case{"stem s2", 3, 2, 3, 16, 1, false},
                        Case{"grouped", 3, 1, 12, 18, 3, false}}) {
    for (bool skip : {false, true}) {
      if (skip && c.residual) continue;  // a skipped masked value needs a stage without residual
      SCOPED_TRACE(std::string(c.name) + (skip ? ", masked skipped" : ""));
      SparseConvParams p = SameConv(2, 14, 11, c.cin, c.cout, c.kernel, c.stride, c.groups);
      p.output_min = -1.5f;
      const size_t pixels = static_cast<size_t>(p.output_height) * p.output_width;
      const size_t out_row = static_cast<size_t>(p.output_width) * c.cout;
      const size_t in_row = static_cast<size_t>(p.input_width) * c.cin;
      const std::vector<float> in = Random(2 * 14 * in_row, 61), residual = Random(2 * pixels * c.cout, 62);
      const std::vector<float> w = Random(c.cout * c.kernel * c.kernel * (c.cin / c.groups), 63);
      const std::vector<float> bias = Random(c.cout, 64), add = Random(c.cout, 65);
      std::vector<uint8_t> mask(pixels);
      for (size_t i = 0; i < pixels; ++i) mask[i] = (i * 7) % 10 < 7;  // 70% kept
      OutputStage stage;
      stage.residual = c.residual;
      stage.residual_lo = -1.0f;
      stage.unary = !c.residual;
      stage.unary_op = kernels::UnaryOp::kSigmoid;  // a pass (a lone hard-swish or SiLU is applied in the kernel)
      auto make = [&](ConvBlocking::Choice choice) {
        ConvBlocking blocking;
        blocking.masked_computes_all = choice;
        return MakeConv(p, w, bias, add, mask.data(), stage, blocking, skip);
      };
      auto active = make(ConvBlocking::Choice::kNever);
      auto all = make(ConvBlocking::Choice::kAlways);
      ASSERT_FALSE(active->computes_all());
      ASSERT_TRUE(all->computes_all());
      EXPECT_TRUE(make(ConvBlocking::Choice::kAuto)->computes_all());  // a stage, few multiply-adds
      if (c.kernel == 1) {
        EXPECT_TRUE(all->ReadsPixelsDirectly());
      }
      const float fill = 1e30f;  // what a skipped pixel keeps
      std::vector<float> want(2 * pixels * c.cout, fill), got(2 * pixels * c.cout, fill);
      active->Run(in.data(), want.data(), pool(), c.residual ? residual.data() : nullptr);
      all->Run(in.data(), got.data(), pool(), c.residual ? residual.data() : nullptr);
      for (size_t i = 0; i < want.size(); ++i) {
        const size_t pixel = i / c.cout % pixels;
        if (skip && !mask[pixel]) continue;
        ASSERT_EQ(got[i], want[i]) << "float " << i << (mask[pixel] ? "" : ", masked");
      }
      if (c.stride != 1) continue;
      auto banded = make(ConvBlocking::Choice::kAlways);
      RunThroughRings(banded.get(), in, 2, 14, in_row, out_row, 3 + c.kernel, 3, c.kernel / 2,
                      c.residual ? residual.data() : nullptr, pool(), fill, [&](int n, int y, const float* row) {
                        for (size_t i = 0; i < out_row; ++i) {
                          if (skip && !mask[y * p.output_width + i / c.cout]) continue;
                          ASSERT_EQ(row[i], want[(n * 14 + y) * out_row + i]) << "n " << n << " y " << y;
                        }
                      });
    }
  }
  // Many multiply-adds per pixel, no stage, or a stage the kernel applies
  // (a lone hard-swish or SiLU): the active pixels alone (kAuto).
  struct Few {
    const char* name;
    int cin;
    bool unary;
    kernels::UnaryOp op;
  };
  for (const Few& f : {Few{"64 -> 64 with a sigmoid", 64, true, kernels::UnaryOp::kSigmoid},
                       Few{"16 -> 64, no stage", 16, false, kernels::UnaryOp::kSigmoid},
                       Few{"16 -> 64 with hard-swish", 16, true, kernels::UnaryOp::kHardSwish},
                       Few{"16 -> 64 with SiLU", 16, true, kernels::UnaryOp::kSilu}}) {
    SparseConvParams p;
    p.input_height = p.output_height = p.input_width = p.output_width = 8;
    p.input_channels = f.cin;
    p.output_channels = 64;
    const std::vector<float> w = Random(64 * p.input_channels, 66);
    std::vector<uint8_t> mask(64, 1);
    mask[3] = 0;
    OutputStage stage;
    stage.unary = f.unary;
    stage.unary_op = f.op;
    std::string error;
    auto op = SparseConvOperator::Create(p, w.data(), nullptr, nullptr, mask.data(), &error, stage);
    ASSERT_NE(op, nullptr) << error;
    EXPECT_FALSE(op->computes_all()) << f.name;
  }
}

// Runs `p` on random data (`mask`: null or output_height * output_width
// bytes) with a lone `op` stage, applied by the kernel and as a pass,
// otherwise as `blocking` says, and expects the same bits.
void ExpectStageInKernelAsPass(const SparseConvParams& p, ConvBlocking blocking, const uint8_t* mask, bool skip,
                               kernels::UnaryOp op, ThreadPool* pool) {
  const size_t taps = static_cast<size_t>(p.kernel_height) * p.kernel_width;
  const size_t weights = p.depthwise ? taps * p.output_channels
                                     : p.output_channels * taps * (p.input_channels / p.groups);
  const size_t in_floats = static_cast<size_t>(p.batch) * p.input_height * p.input_width * p.input_channels;
  const size_t out_floats = static_cast<size_t>(p.batch) * p.output_height * p.output_width * p.output_channels;
  const std::vector<float> in = Random(in_floats, 71), w = Random(weights, 72);
  const std::vector<float> bias = Random(p.output_channels, 73), add = Random(p.output_channels, 74);
  OutputStage stage;
  stage.unary = true;
  stage.unary_op = op;
  blocking.stage_in_kernel = false;
  auto pass = MakeConv(p, w, bias, add, mask, stage, blocking, skip);
  blocking.stage_in_kernel = true;
  auto kernel = MakeConv(p, w, bias, add, mask, stage, blocking, skip);
  ASSERT_FALSE(pass->StageInKernel());
  ASSERT_TRUE(kernel->StageInKernel());
  const float fill = 1e30f;  // what a skipped pixel keeps
  std::vector<float> want(out_floats, fill), got(out_floats, fill);
  pass->Run(in.data(), want.data(), pool);
  kernel->Run(in.data(), got.data(), pool);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "float " << i;
}

// A fused hard-swish or SiLU applied by the kernel as it stores gives what the
// pass over the written rows gives, bit for bit: a 1x1 conv (rows read
// directly), a stride-2 conv on 3 channels, masked (active pixels, or every
// pixel then the masked value) and not; depthwise convs through pointers and
// by image rows. With a residual the stage stays a pass.
TEST_P(OperatorsTest, ActivationInTheKernelMatchesTheStagePass) {
  struct Case {
    const char* name;
    int kernel, stride, cin, cout;
    bool masked;
    ConvBlocking::Choice computes_all;
  };
  for (const Case& c : {Case{"1x1", 1, 1, 24, 45, false, ConvBlocking::Choice::kAuto},
                        Case{"1x1 masked", 1, 1, 24, 45, true, ConvBlocking::Choice::kNever},
                        Case{"1x1 masked, computing all", 1, 1, 24, 45, true, ConvBlocking::Choice::kAlways},
                        Case{"stem", 3, 2, 3, 16, false, ConvBlocking::Choice::kAuto},
                        Case{"stem masked", 3, 2, 3, 16, true, ConvBlocking::Choice::kNever}}) {
    SCOPED_TRACE(c.name);
    SparseConvParams p = SameConv(2, 13, 10, c.cin, c.cout, c.kernel, c.stride);
    p.output_min = -2.0f;
    p.output_max = 6.0f;
    const size_t pixels = static_cast<size_t>(p.output_height) * p.output_width;
    std::vector<uint8_t> mask(pixels);
    for (size_t i = 0; i < pixels; ++i) mask[i] = (i * 7) % 10 < 7;
    ConvBlocking blocking;
    blocking.masked_computes_all = c.computes_all;
    for (kernels::UnaryOp op : {kernels::UnaryOp::kHardSwish, kernels::UnaryOp::kSilu}) {
      ExpectStageInKernelAsPass(p, blocking, c.masked ? mask.data() : nullptr, false, op, pool());
    }
  }
  // Depthwise, through pointers and by image rows, masked (its masked pixels
  // written or skipped) and not; 3x3 and 5x5, 45 channels (a vector tail).
  for (int k : {3, 5}) {
    for (ConvBlocking::ImageRows path : {ConvBlocking::ImageRows::kNever, ConvBlocking::ImageRows::kAlways}) {
      for (int masking : {0, 1, 2}) {  // none, written, skipped
        SCOPED_TRACE(testing::Message() << "depthwise " << k << "x" << k
                                        << (path == ConvBlocking::ImageRows::kAlways ? " by image rows" : " through pointers")
                                        << ", masking " << masking);
        SparseConvParams p = SameDepthwise(2, 9, 11, 45, k);
        p.output_min = -2.0f;
        p.output_max = 6.0f;
        std::vector<uint8_t> mask(9 * 11);
        for (size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7) % 10 < 7;
        ConvBlocking blocking;
        blocking.depthwise_image_rows = path;
        for (kernels::UnaryOp op : {kernels::UnaryOp::kHardSwish, kernels::UnaryOp::kSilu}) {
          ExpectStageInKernelAsPass(p, blocking, masking ? mask.data() : nullptr, masking == 2, op, pool());
        }
      }
    }
  }
  // Overflowing sums: the conv clamps them to the float range; the
  // hard-swish after it then overflows (x * 6) to infinity, as the builtin
  // HARD_SWISH does, in the kernel and in the pass alike.
  {
    SparseConvParams p;
    p.input_height = p.output_height = p.input_width = p.output_width = 5;
    p.input_channels = p.output_channels = 16;
    std::vector<float> w = Random(16 * 16, 80);
    for (float& v : w) v *= 1e38f;
    const std::vector<float> in = Random(25 * 16, 81), none(16, 0.0f);
    OutputStage stage;
    stage.unary = true;
    stage.unary_op = kernels::UnaryOp::kHardSwish;
    ConvBlocking pass_blocking, kernel_blocking;
    pass_blocking.stage_in_kernel = false;
    auto pass = MakeConv(p, w, none, none, nullptr, stage, pass_blocking);
    auto kernel = MakeConv(p, w, none, none, nullptr, stage, kernel_blocking);
    ASSERT_TRUE(kernel->StageInKernel());
    std::vector<float> want(25 * 16), got(25 * 16);
    pass->Run(in.data(), want.data(), pool());
    kernel->Run(in.data(), got.data(), pool());
    size_t infinite = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "float " << i;
      infinite += std::isinf(got[i]);
    }
    EXPECT_GT(infinite, 0u);
  }
  // A residual, or an activation fused after the hard-swish: the stage is a pass.
  {
    SparseConvParams p;
    p.input_height = p.output_height = p.input_width = p.output_width = 4;
    p.input_channels = p.output_channels = 16;
    const std::vector<float> w = Random(16 * 16, 82), none(16, 0.0f);
    OutputStage clamped;
    clamped.unary = true;
    clamped.unary_op = kernels::UnaryOp::kHardSwish;
    clamped.unary_params.hi = 4.0f;
    EXPECT_FALSE(MakeConv(p, w, none, none, nullptr, clamped, ConvBlocking())->StageInKernel());
  }
  SparseConvParams p;
  p.input_height = p.output_height = p.input_width = p.output_width = 4;
  p.input_channels = p.output_channels = 16;
  const std::vector<float> w = Random(16 * 16, 75);
  OutputStage stage;
  stage.residual = true;
  stage.unary = true;
  stage.unary_op = kernels::UnaryOp::kHardSwish;
  std::string error;
  auto op = SparseConvOperator::Create(p, w.data(), nullptr, nullptr, nullptr, &error, stage);
  ASSERT_NE(op, nullptr) << error;
  EXPECT_FALSE(op->StageInKernel());
}

// SELECT with its inputs broadcast (NumPy's rule): a scalar constant, a
// condition of one row, a lower rank; each against the same-shape select.
TEST_P(OperatorsTest, SelectBroadcastsItsInputs) {
  const Shape out = {2, 8, 6, 45};
  struct Case {
    Shape cond, a, b;
    bool a_constant;
  };
  const std::vector<Case> cases = {
      {out, out, {}, false}, {{2, 1, 6, 45}, out, out, false}, {out, {}, out, true},
      {out, {6, 45}, out, false}, {{45}, {8, 1, 45}, {2, 8, 6, 1}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeText(c.cond) + " " + ShapeText(c.a) + " " + ShapeText(c.b));
    std::vector<float> cond = Random(NumElements(c.cond), 11);
    for (float& v : cond) v = v > 0 ? 1.0f : 0.0f;
    const std::vector<float> a = Random(NumElements(c.a), 12), b = Random(NumElements(c.b), 13);
    std::string error;
    auto op = SelectOperator::Create({c.cond, c.a, c.b}, out, {nullptr, c.a_constant ? a.data() : nullptr, nullptr},
                                     &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> got(NumElements(out));
    for (int run = 0; run < 2; ++run) op->Run(cond.data(), c.a_constant ? nullptr : a.data(), b.data(), got.data(), pool());
    for (size_t i = 0; i < got.size(); ++i) {
      const std::vector<int> coords = Coords(i, out);
      const float want = cond[BroadcastIndex(c.cond, coords)] != 0 ? a[BroadcastIndex(c.a, coords)]
                                                                   : b[BroadcastIndex(c.b, coords)];
      ASSERT_EQ(got[i], want) << i;
    }
  }
  std::string error;
  EXPECT_EQ(SelectOperator::Create({out, {3, 45}, out}, out, {nullptr, nullptr, nullptr}, &error), nullptr);
  EXPECT_NE(error.find("input 1 [3,45] does not broadcast to [2,8,6,45]"), std::string::npos) << error;
}

// A product computed transposed (a right operand given adjoint, not a
// constant, packing it the larger cost) gives the direct product's bits:
// the same terms in the same order (the constant right operand takes the
// direct path).
TEST_P(OperatorsTest, BatchMatMulTransposedIsTheDirectProductBitForBit) {
  for (bool adj_x : {false, true}) {
    const Shape lhs = adj_x ? Shape{2, 300, 7} : Shape{2, 7, 300}, rhs = {2, 260, 300}, out = {2, 7, 260};
    const std::vector<float> a = Random(NumElements(lhs), 15), b = Random(NumElements(rhs), 16);
    std::string error;
    auto transposed = MatMulOperator::Create(lhs, rhs, adj_x, true, out, nullptr, &error);
    auto direct = MatMulOperator::Create(lhs, rhs, adj_x, true, out, b.data(), &error);
    ASSERT_NE(transposed, nullptr) << error;
    ASSERT_NE(direct, nullptr) << error;
    std::vector<float> got(NumElements(out)), want(NumElements(out));
    transposed->Run(a.data(), b.data(), got.data(), pool());
    direct->Run(a.data(), nullptr, want.data(), pool());
    ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "adj_x " << adj_x;
  }
}

// Attention in row blocks gives the unfused ops' bits: queries x keys (the
// queries adjoint, as litert-torch writes NCHW attention, and not), a
// softmax with its beta, then weights x values (values adjoint and not) or
// values x weights^T (the output transposed); 3000 keys: rows in three
// blocks, and the second product's reduction in blocks of 1024.
TEST_P(OperatorsTest, AttentionInRowBlocksIsTheUnfusedOpsBitForBit) {
  const size_t batches = 2, m = 100, n = 3000;
  const float beta = 0.25f;
  for (bool adj_q : {false, true}) {
    for (int form = 0; form < 3; ++form) {  // 0: P x V, 1: P x V given adjoint, 2: V x P^T
      SCOPED_TRACE("adj_q " + std::to_string(adj_q) + " form " + std::to_string(form));
      const Shape q = adj_q ? Shape{2, 16, 100} : Shape{2, 100, 16}, k = {2, 16, 3000};
      const Shape v = form == 0 ? Shape{2, 3000, 24} : Shape{2, 24, 3000};
      const Shape scores = {2, 100, 3000}, out = form == 2 ? Shape{2, 24, 100} : Shape{2, 100, 24};
      const std::vector<float> qv = Random(NumElements(q), 41), kv = Random(NumElements(k), 42);
      const std::vector<float> vv = Random(NumElements(v), 43);
      std::string error;
      auto first = MatMulOperator::Create(q, k, adj_q, false, scores, nullptr, &error);
      ASSERT_NE(first, nullptr) << error;
      auto softmax = SoftmaxOperator::Create(batches * m, n, beta);
      auto second = form == 2 ? MatMulOperator::Create(v, scores, false, true, out, nullptr, &error)
                              : MatMulOperator::Create(scores, v, false, form == 1, out, nullptr, &error);
      ASSERT_NE(second, nullptr) << error;
      std::vector<float> s(NumElements(scores)), want(NumElements(out)), got(NumElements(out), -1.0f);
      first->Run(qv.data(), kv.data(), s.data(), pool());
      softmax->Run(s.data(), s.data(), pool());
      if (form == 2) {
        second->Run(vv.data(), s.data(), want.data(), pool());
      } else {
        second->Run(s.data(), vv.data(), want.data(), pool());
      }
      const bool adj_v = form == 1 || form == 2;
      auto fused = AttentionOperator::Create(q, k, adj_q, false, v, adj_v, form == 2, beta, out, &error);
      ASSERT_NE(fused, nullptr) << error;
      fused->Run(qv.data(), kv.data(), vv.data(), got.data(), pool());
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    }
  }
  std::string error;
  EXPECT_EQ(AttentionOperator::Create({2, 10, 4}, {2, 4, 30}, false, false, {2, 30, 5}, false, false, 1.0f,
                                      {2, 5, 10}, &error),
            nullptr);
  EXPECT_NE(error.find("gives [2,10,5], not [2,5,10]"), std::string::npos) << error;
}

// BATCH_MATMUL against a loop in double: every adjoint pair, batch dims
// broadcast both ways, rank 2 with rank 4, column counts off the 16-wide
// tiles, a reduction long enough to run in blocks, a constant right operand.
TEST_P(OperatorsTest, BatchMatMulOfEveryLayout) {
  struct Case {
    Shape lhs, rhs;
    bool adj_x, adj_y, constant;
    Shape out;
  };
  const std::vector<Case> cases = {
      {{2, 42, 16}, {2, 16, 42}, false, false, false, {2, 42, 42}},
      {{2, 16, 168}, {2, 168, 16}, true, true, false, {2, 168, 168}},
      {{2, 16, 168}, {2, 168, 168}, false, true, false, {2, 16, 168}},
      {{18, 16, 32}, {18, 16, 32}, false, true, false, {18, 16, 16}},
      {{3, 7, 5}, {3, 7, 9}, true, false, false, {3, 5, 9}},
      {{2, 1, 5, 7}, {3, 7, 33}, false, false, false, {2, 3, 5, 33}},
      {{5, 7}, {2, 2, 7, 1}, false, false, true, {2, 2, 5, 1}},
      {{4, 1, 7, 45}, {1, 3, 129, 45}, false, true, true, {4, 3, 7, 129}},
      {{3, 2500}, {2500, 17}, false, false, false, {3, 17}},
      {{2, 2500, 3}, {17, 2500}, true, true, true, {2, 3, 17}},
      {{1, 3, 40, 6}, {2, 1, 200, 40}, true, true, false, {2, 3, 6, 200}},  // computed transposed
      {{2, 5, 2300}, {2, 300, 2300}, false, true, false, {2, 5, 300}},      // transposed, in blocks
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeText(c.lhs) + (c.adj_x ? "T" : "") + " x " + ShapeText(c.rhs) + (c.adj_y ? "T" : ""));
    const std::vector<float> lhs = Random(NumElements(c.lhs), 5), rhs = Random(NumElements(c.rhs), 6);
    std::string error;
    auto op = MatMulOperator::Create(c.lhs, c.rhs, c.adj_x, c.adj_y, c.out, c.constant ? rhs.data() : nullptr, &error);
    ASSERT_NE(op, nullptr) << error;
    std::vector<float> out(NumElements(c.out), 0.0f);
    for (int run = 0; run < 2; ++run) {  // a second run repacks (or reuses) the right operand
      op->Run(lhs.data(), c.constant ? nullptr : rhs.data(), out.data(), pool());
    }
    const size_t rank = c.out.size();
    const int m_dim = c.out[rank - 2], n_dim = c.out[rank - 1];
    const int k_dim = c.adj_x ? c.lhs[c.lhs.size() - 2] : c.lhs.back();
    const Shape lhs_batch(c.lhs.begin(), c.lhs.end() - 2), rhs_batch(c.rhs.begin(), c.rhs.end() - 2);
    const Shape out_batch(c.out.begin(), c.out.end() - 2);
    for (size_t i = 0; i < out.size(); ++i) {
      const size_t b = i / (m_dim * n_dim);
      const int m = static_cast<int>(i / n_dim % m_dim), n = static_cast<int>(i % n_dim);
      const std::vector<int> coords = Coords(b, out_batch);
      const size_t lb = lhs_batch.empty() ? 0 : BroadcastIndex(lhs_batch, coords);
      const size_t rb = rhs_batch.empty() ? 0 : BroadcastIndex(rhs_batch, coords);
      double want = 0, scale = 0;
      for (int k = 0; k < k_dim; ++k) {
        const double a = lhs[lb * m_dim * k_dim + (c.adj_x ? k * m_dim + m : m * k_dim + k)];
        const double w = rhs[rb * k_dim * n_dim + (c.adj_y ? n * k_dim + k : k * n_dim + n)];
        want += a * w;
        scale += std::abs(a * w);
      }
      ASSERT_NEAR(out[i], want, 1e-6 * scale + 1e-30) << i;
    }
  }
  // Shapes that do not make a product, each named.
  struct Bad {
    Shape lhs, rhs, out;
    const char* says;
  };
  const std::vector<Bad> bad = {
      {{2, 3, 4}, {2, 5, 6}, {2, 3, 6}, "contracts 4 terms with 5"},
      {{2, 3, 4}, {3, 4, 6}, {3, 3, 6}, "batch dims 2 and 3 do not broadcast"},
      {{4}, {4, 6}, {6}, "rank 2"},
      {{2, 3, 4}, {2, 4, 6}, {2, 3, 7}, "is [2,3,6], not [2,3,7]"},
  };
  for (const Bad& c : bad) {
    std::string error;
    EXPECT_EQ(MatMulOperator::Create(c.lhs, c.rhs, false, false, c.out, nullptr, &error), nullptr);
    EXPECT_NE(error.find(c.says), std::string::npos) << error;
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, OperatorsTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "thread";
                         });

}  // namespace
}  // namespace actsparse
