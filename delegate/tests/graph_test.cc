// The graph layer: validation, the fusion passes (what they fuse and that the
// fused plan computes what the unfused one does), the arena (tensors share
// memory when their lifetimes do not overlap; reshapes alias; centred at
// two threads), and running
// with external tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <memory>
#include <random>
#include <vector>

#include "delegate/graph/fusion.h"
#include "delegate/graph/graph.h"
#include "delegate/graph/plan.h"
#include "delegate/graph/run_mode.h"
#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {
namespace graph {
namespace {

std::vector<float> Random(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// `pixels` mask bytes, each 1 with probability `density`.
std::vector<uint8_t> RandomMask(size_t pixels, double density, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<uint8_t> mask(pixels);
  for (uint8_t& m : mask) m = uniform(rng) < density;
  return mask;
}

// Builds small graphs; the constants live as long as the builder.
struct Builder {
  Graph g;
  std::vector<std::unique_ptr<std::vector<float>>> constants;

  int Tensor(const Shape& shape, bool external = false) {
    graph::Tensor t;
    t.shape = shape;
    t.external = external;
    t.name = "t" + std::to_string(g.tensors.size());
    return g.AddTensor(t);
  }
  const float* Constant(size_t n, unsigned seed) {
    constants.push_back(std::make_unique<std::vector<float>>(Random(n, seed)));
    return constants.back()->data();
  }
  int ConstantTensor(const Shape& shape, unsigned seed) {
    const int t = Tensor(shape);
    g.tensors[t].constant = Constant(NumElements(shape), seed);
    return t;
  }
  Node& Add(OpType type, std::vector<int> inputs, int output, const std::string& label) {
    Node node;
    node.type = type;
    node.inputs = std::move(inputs);
    node.output = output;
    node.label = label;
    g.nodes.push_back(node);
    return g.nodes.back();
  }
  Node& Conv(int input, int output, int cin, int cout, int k, unsigned seed, const std::string& label) {
    Node& node = Add(OpType::kConv2D, {input}, output, label);
    node.conv.kernel_height = node.conv.kernel_width = k;
    node.conv.padding_top = node.conv.padding_left = k / 2;
    node.conv.weights = Constant(static_cast<size_t>(cout) * k * k * cin, seed);
    node.conv.bias = Constant(cout, seed + 1);
    return node;
  }
  Node& Unary(kernels::UnaryOp op, int input, int output, const std::string& label) {
    Node& node = Add(OpType::kUnary, {input}, output, label);
    node.unary_op = op;
    return node;
  }
};

// A residual block with a zero PAD, SiLU, a residual ADD with RELU, and a
// hard-swish after a depthwise conv: every fusion pass has work.
Builder ResidualBlock() {
  Builder b;
  const int x = b.Tensor({2, 6, 6, 8}, true);
  const int padded = b.Tensor({2, 8, 8, 8});
  Node& pad = b.Add(OpType::kPad, {x}, padded, "PAD#0");
  pad.paddings = {{0, 0}, {1, 1}, {1, 1}, {0, 0}};
  const int c1 = b.Tensor({2, 6, 6, 8});
  Node& conv1 = b.Conv(padded, c1, 8, 8, 3, 10, "CONV_2D#1");
  conv1.conv.padding_top = conv1.conv.padding_left = 0;  // the PAD pads
  const int s = b.Tensor({2, 6, 6, 8}), silu = b.Tensor({2, 6, 6, 8});
  b.Unary(kernels::UnaryOp::kSigmoid, c1, s, "LOGISTIC#2");
  Node& mul = b.Add(OpType::kBinary, {c1, s}, silu, "MUL#3");
  mul.binary_op = kernels::BinaryOp::kMul;
  const int c2 = b.Tensor({2, 6, 6, 8}), sum = b.Tensor({2, 6, 6, 8});
  b.Conv(silu, c2, 8, 8, 3, 20, "CONV_2D#4");
  Node& add = b.Add(OpType::kBinary, {x, c2}, sum, "ADD#5");
  add.act_min = 0.0f;
  const int dw = b.Tensor({2, 6, 6, 8}), out = b.Tensor({2, 6, 6, 8}, true);
  Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {sum}, dw, "DEPTHWISE_CONV_2D#6");
  depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
  depthwise.conv.padding_top = depthwise.conv.padding_left = 1;
  depthwise.conv.weights = b.Constant(9 * 8, 30);
  b.Unary(kernels::UnaryOp::kHardSwish, dw, out, "HARD_SWISH#7");
  return b;
}

// A plan made for one thread (`pool` may still have more: the plan must stay correct).
// `plan_threads` 0: a plan for one thread, whatever the pool. `min_banded_bytes` as PlanOptions'.
std::vector<float> RunPlan(const Builder& b, bool fuse, const std::vector<float>& input, ThreadPool* pool,
                           std::vector<std::string>* fusions = nullptr, int plan_threads = 0,
                           size_t min_banded_bytes = 0) {
  PlanOptions options;
  options.fuse = fuse;
  options.num_threads = plan_threads > 0 ? plan_threads : 1;
  options.min_banded_bytes = min_banded_bytes;
  std::string error;
  auto plan = PartitionPlan::Create(b.g, options, &error);
  EXPECT_NE(plan, nullptr) << error;
  if (plan == nullptr) return {};
  if (fusions) *fusions = plan->fusions();
  std::vector<float> out(NumElements(b.g.tensors.back().shape));
  std::vector<float*> pointers(b.g.tensors.size(), nullptr);
  pointers[0] = const_cast<float*>(input.data());
  pointers[b.g.tensors.size() - 1] = out.data();
  EXPECT_TRUE(plan->Run(pointers, pool, &error)) << error;
  return out;
}

TEST(GraphTest, FusionPassesFuseAndKeepTheResult) {
  const Builder b = ResidualBlock();
  const std::vector<float> input = Random(2 * 6 * 6 * 8, 1);
  std::vector<std::string> fusions;
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    const std::vector<float> unfused = RunPlan(b, false, input, p);
    const std::vector<float> fused = RunPlan(b, true, input, p, &fusions);
    ASSERT_EQ(fused.size(), unfused.size());
    for (size_t i = 0; i < fused.size(); ++i) ASSERT_NEAR(fused[i], unfused[i], 1e-5) << i;
  }
  EXPECT_EQ(fusions, std::vector<std::string>({
                         "LOGISTIC#2 into MUL#3 (SiLU)",
                         "PAD#0 into CONV_2D#1",
                         "ADD#5 into CONV_2D#4 (residual)",
                         "MUL#3+SiLU into CONV_2D#1 (activation)",
                         "HARD_SWISH#7 into DEPTHWISE_CONV_2D#6 (activation)",
                     }));
}

// Runs `b` fused and unfused, on one thread and on two (with a plan for
// two), expects the same outputs within `tolerance`; the fusions' log.
std::vector<std::string> ExpectFusedAsUnfused(const Builder& b, const std::vector<float>& input, float tolerance) {
  std::vector<std::string> fusions;
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    const std::vector<float> unfused = RunPlan(b, false, input, p);
    const std::vector<float> fused = RunPlan(b, true, input, p, &fusions, p ? 2 : 1);
    EXPECT_EQ(fused.size(), unfused.size());
    for (size_t i = 0; i < fused.size() && i < unfused.size(); ++i) {
      EXPECT_NEAR(fused[i], unfused[i], tolerance) << (p ? "2 threads, " : "1 thread, ") << i;
      if (std::abs(fused[i] - unfused[i]) > tolerance) break;
    }
  }
  return fusions;
}

// A ConvTranspose2d with groups = channels as litert-torch writes it: per
// channel a SLICE and a one-channel 4x4 / 2 transposed conv (with its own
// bias), then the CONCATENATION: one depthwise transposed conv, bit for bit.
// A group of two channels (a SLICE of 2) stays as it is.
TEST(GraphTest, OneChannelTransposeConvsBecomeOneDepthwise) {
  for (int group : {1, 2}) {
    SCOPED_TRACE(group);
    Builder b;
    const int channels = 6;
    const int x = b.Tensor({2, 5, 7, channels}, true);
    std::vector<int> parts;
    for (int k = 0; k < channels / group; ++k) {
      const int part = b.Tensor({2, 5, 7, group});
      Node& slice = b.Add(OpType::kSlice, {x}, part, "SLICE#" + std::to_string(2 * k));
      slice.begin = {0, 0, 0, k * group};
      const int up = b.Tensor({2, 10, 14, group});
      Node& conv = b.Add(OpType::kTransposeConv, {part}, up, "TRANSPOSE_CONV#" + std::to_string(2 * k + 1));
      conv.conv.kernel_height = conv.conv.kernel_width = 4;
      conv.conv.stride_height = conv.conv.stride_width = 2;
      conv.conv.padding_top = conv.conv.padding_left = 1;
      conv.conv.weights = b.Constant(static_cast<size_t>(group) * 16 * group, 40 + k);
      conv.conv.bias = b.Constant(group, 60 + k);
      parts.push_back(up);
    }
    const int out = b.Tensor({2, 10, 14, channels}, true);
    Node& concat = b.Add(OpType::kConcatenation, parts, out, "CONCATENATION#12");
    concat.axis = 3;
    const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(2 * 5 * 7 * channels, 3), 0.0f);
    if (group == 1) {
      EXPECT_EQ(fusions, std::vector<std::string>({"6 one-channel TRANSPOSE_CONVs and their SLICEs into "
                                                   "CONCATENATION#12 (a depthwise transposed conv)"}));
    } else {
      EXPECT_TRUE(fusions.empty());
    }
  }
}

// litert-torch's pooling head: a conv, TRANSPOSE to NCHW, HARD_SWISH, MEAN
// over H and W. The unary moves before the transpose and joins the conv;
// the MEAN then reads the conv's output and the transpose goes.
TEST(GraphTest, UnaryAfterATransposeJoinsTheConvBeforeIt) {
  Builder b;
  const int x = b.Tensor({1, 5, 5, 24}, true);
  const int c = b.Tensor({1, 5, 5, 24}), t = b.Tensor({1, 24, 5, 5}), h = b.Tensor({1, 24, 5, 5});
  const int out = b.Tensor({1, 24, 1, 1}, true);
  b.Conv(x, c, 24, 24, 1, 40, "CONV_2D#0");
  b.Add(OpType::kTranspose, {c}, t, "TRANSPOSE#1").axes = {0, 3, 1, 2};
  b.Unary(kernels::UnaryOp::kHardSwish, t, h, "HARD_SWISH#2");
  b.Add(OpType::kMean, {h}, out, "MEAN#3").axes = {2, 3};
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(5 * 5 * 24, 4), 1e-6);
  EXPECT_EQ(fusions, std::vector<std::string>({
                         "HARD_SWISH#2 moved before TRANSPOSE#1",
                         "TRANSPOSE#1 into MEAN#3 (mean of the untransposed input)",
                         "HARD_SWISH#2 into CONV_2D#0 (activation)",
                     }));
}

// litert-torch's EfficientNet block: a depthwise conv, TRANSPOSE to NCHW,
// SiLU (LOGISTIC and MUL), a squeeze-excitation in NCHW (MEAN over H and W,
// LOGISTIC, MUL), TRANSPOSE back, a 1x1 conv. The SiLU, as one unary op,
// moves before the transpose and joins the depthwise conv; the MEAN reads
// through the first transpose and both transposes around the scale's MUL
// go: no transpose runs.
TEST(GraphTest, SiluAndSqueezeExcitationBetweenTransposesRunUntransposed) {
  Builder b;
  const int x = b.Tensor({1, 6, 7, 16}, true);
  const int dw = b.Tensor({1, 6, 7, 16}), t = b.Tensor({1, 16, 6, 7}), sig = b.Tensor({1, 16, 6, 7});
  const int silu = b.Tensor({1, 16, 6, 7}), pooled = b.Tensor({1, 16, 1, 1}), scale = b.Tensor({1, 16, 1, 1});
  const int scaled = b.Tensor({1, 16, 6, 7}), back = b.Tensor({1, 6, 7, 16}), out = b.Tensor({1, 6, 7, 8}, true);
  Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {x}, dw, "DEPTHWISE_CONV_2D#0");
  depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
  depthwise.conv.padding_top = depthwise.conv.padding_left = 1;
  depthwise.conv.weights = b.Constant(9 * 16, 60);
  b.Add(OpType::kTranspose, {dw}, t, "TRANSPOSE#1").axes = {0, 3, 1, 2};
  b.Unary(kernels::UnaryOp::kSigmoid, t, sig, "LOGISTIC#2");
  b.Add(OpType::kBinary, {t, sig}, silu, "MUL#3").binary_op = kernels::BinaryOp::kMul;
  b.Add(OpType::kMean, {silu}, pooled, "MEAN#4").axes = {2, 3};
  b.Unary(kernels::UnaryOp::kSigmoid, pooled, scale, "LOGISTIC#5");
  b.Add(OpType::kBinary, {silu, scale}, scaled, "MUL#6").binary_op = kernels::BinaryOp::kMul;
  b.Add(OpType::kTranspose, {scaled}, back, "TRANSPOSE#7").axes = {0, 2, 3, 1};
  b.Conv(back, out, 16, 8, 1, 61, "CONV_2D#8");
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(6 * 7 * 16, 6), 1e-6);
  EXPECT_EQ(fusions, std::vector<std::string>({
                         "LOGISTIC#2 into MUL#3 (SiLU)",
                         "MUL#3+SiLU moved before TRANSPOSE#1",
                         "TRANSPOSE#1 into MEAN#4 (mean of the untransposed input)",
                         "TRANSPOSE#1 into MUL#6 (transposes around it removed)",
                         "TRANSPOSE#7 into MUL#6 (transposes around it removed)",
                         "MUL#3+SiLU into DEPTHWISE_CONV_2D#0 (activation)",
                         "MUL#6 into CONV_2D#8 (channel scale into its weights)",
                     }));
}

// A batch norm the converter could not fold (DenseNet's, after a concat),
// as litert-torch writes it: SUB, MUL, MUL, ADD with RELU, each with a
// per-channel constant, then a scalar DIV with the constant first and a
// tanh. One chain step, bit for bit the ops one by one; a constant of
// another shape, or a value read twice, ends the chain.
TEST(GraphTest, ElementwiseOpsWithChannelConstantsRunAsOneChain) {
  Builder b;
  int value = b.Tensor({2, 5, 6, 90}, true);
  const std::vector<std::pair<kernels::BinaryOp, const char*>> ops = {{kernels::BinaryOp::kSub, "SUB#0"},
                                                                      {kernels::BinaryOp::kMul, "MUL#1"},
                                                                      {kernels::BinaryOp::kMul, "MUL#2"},
                                                                      {kernels::BinaryOp::kAdd, "ADD#3"}};
  for (size_t i = 0; i < ops.size(); ++i) {
    const int constant = b.ConstantTensor(i == 1 ? Shape{90} : Shape{1, 1, 1, 90}, 70 + i);
    const int next = b.Tensor({2, 5, 6, 90});
    Node& op = b.Add(OpType::kBinary, {value, constant}, next, ops[i].second);
    op.binary_op = ops[i].first;
    if (i == 3) op.act_min = 0.0f;
    value = next;
  }
  const int scalar = b.ConstantTensor({}, 75);
  const int divided = b.Tensor({2, 5, 6, 90}), tanh = b.Tensor({2, 5, 6, 90});
  b.Add(OpType::kBinary, {scalar, value}, divided, "DIV#4").binary_op = kernels::BinaryOp::kDiv;
  b.Unary(kernels::UnaryOp::kTanh, divided, tanh, "TANH#5");
  // A constant over two dims is not a stage: the chain ends at TANH#5.
  const int plane = b.ConstantTensor({6, 90}, 76);
  const int wide = b.Tensor({2, 5, 6, 90});
  b.Add(OpType::kBinary, {tanh, plane}, wide, "ADD#6");
  const int out = b.Tensor({2, 5, 6, 90}, true);
  b.Add(OpType::kBinary, {wide, wide}, out, "MUL#7").binary_op = kernels::BinaryOp::kMul;
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(2 * 5 * 6 * 90, 7), 0.0f);
  EXPECT_EQ(fusions, std::vector<std::string>({
                         "MUL#1 into SUB#0 (elementwise chain)",
                         "MUL#2 into SUB#0 (elementwise chain)",
                         "ADD#3 into SUB#0 (elementwise chain)",
                         "DIV#4 into SUB#0 (elementwise chain)",
                         "TANH#5 into SUB#0 (elementwise chain)",
                     }));
}

// litert-torch's Mish (x * tanh(softplus(x)), softplus as SELECT(x > 20, x,
// LOG(EXP(x) + 1))) and ELU (SELECT(x >= 0, x, EXP(x) - 1)) become one
// unary op each; inputs wide enough for EXP to overflow. Mish's one
// division differs from the ops' log and tanh by a few ulp (of outputs up
// to about 100).
TEST(GraphTest, MishAndEluBecomeOneUnaryOpEach) {
  Builder b;
  const Shape shape = {1, 6, 5, 40};
  auto scalar = [&](float value) {
    const int t = b.Tensor({});
    b.constants.push_back(std::make_unique<std::vector<float>>(1, value));
    b.g.tensors[t].constant = b.constants.back()->data();
    return t;
  };
  auto binary = [&](kernels::BinaryOp op, int a, int c, const std::string& label) {
    const int out = b.Tensor(shape);
    b.Add(OpType::kBinary, {a, c}, out, label).binary_op = op;
    return out;
  };
  auto unary = [&](kernels::UnaryOp op, int a, const std::string& label) {
    const int out = b.Tensor(shape);
    b.Unary(op, a, out, label);
    return out;
  };
  const int x = b.Tensor(shape, true);
  const int soft = unary(kernels::UnaryOp::kLog,
                         binary(kernels::BinaryOp::kAdd, unary(kernels::UnaryOp::kExp, x, "EXP#0"), scalar(1.0f), "ADD#1"),
                         "LOG#2");
  const int above = binary(kernels::BinaryOp::kGreater, x, scalar(20.0f), "GREATER#3");
  const int softplus = b.Tensor(shape);
  b.Add(OpType::kSelect, {above, x, soft}, softplus, "SELECT#4");
  const int mish = binary(kernels::BinaryOp::kMul, unary(kernels::UnaryOp::kTanh, softplus, "TANH#5"), x, "MUL#6");
  const int em1 = binary(kernels::BinaryOp::kSub, unary(kernels::UnaryOp::kExp, mish, "EXP#7"), scalar(1.0f), "SUB#8");
  const int positive = binary(kernels::BinaryOp::kGreaterEqual, mish, scalar(0.0f), "GREATER_EQUAL#9");
  const int out = b.Tensor(shape, true);
  b.Add(OpType::kSelect, {positive, mish, em1}, out, "SELECT#10");
  std::vector<float> input = Random(NumElements(shape), 12);
  for (float& v : input) v *= 60.0f;
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, input, 1e-4f);
  EXPECT_EQ(fusions, std::vector<std::string>({
                         "EXP#0 into SELECT#4 (softplus)",
                         "EXP#7 into SELECT#10 (ELU)",
                         "SELECT#4+softplus into MUL#6 (Mish)",
                         "SELECT#10+ELU into MUL#6+Mish (elementwise chain)",
                     }));
}

// Attention's scaled scores: MUL by a positive scalar and DIV by one, each
// read only by a SOFTMAX, become the softmax's beta (within a few ulp of
// exp's argument); a MUL by a negative scalar, and one whose output is
// read twice, stay.
TEST(GraphTest, ScalarScalesBecomeTheSoftmaxBeta) {
  Builder b;
  const Shape shape = {2, 7, 45};
  auto scalar = [&](float value) {
    const int t = b.Tensor({});
    b.constants.push_back(std::make_unique<std::vector<float>>(1, value));
    b.g.tensors[t].constant = b.constants.back()->data();
    return t;
  };
  auto node = [&](OpType type, std::vector<int> inputs, const std::string& label, kernels::BinaryOp op) {
    const int out = b.Tensor(shape);
    b.Add(type, std::move(inputs), out, label).binary_op = op;
    return out;
  };
  const int x = b.Tensor(shape, true);
  const int mul = node(OpType::kBinary, {x, scalar(0.125f)}, "MUL#0", kernels::BinaryOp::kMul);
  const int s1 = node(OpType::kSoftmax, {mul}, "SOFTMAX#1", kernels::BinaryOp::kAdd);
  const int div = node(OpType::kBinary, {s1, scalar(0.02f)}, "DIV#2", kernels::BinaryOp::kDiv);
  const int s2 = node(OpType::kSoftmax, {div}, "SOFTMAX#3", kernels::BinaryOp::kAdd);
  const int negative = node(OpType::kBinary, {scalar(-3.0f), s2}, "MUL#4", kernels::BinaryOp::kMul);
  const int s3 = node(OpType::kSoftmax, {negative}, "SOFTMAX#5", kernels::BinaryOp::kAdd);
  const int twice = node(OpType::kBinary, {s3, scalar(4.0f)}, "MUL#6", kernels::BinaryOp::kMul);
  const int s4 = node(OpType::kSoftmax, {twice}, "SOFTMAX#7", kernels::BinaryOp::kAdd);
  const int out = b.Tensor(shape, true);
  b.Add(OpType::kBinary, {s4, twice}, out, "ADD#8").binary_op = kernels::BinaryOp::kAdd;
  std::vector<float> input = Random(NumElements(shape), 14);
  for (float& v : input) v *= 40.0f;
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, input, 2e-6f);
  EXPECT_EQ(fusions, std::vector<std::string>({"MUL#0 into SOFTMAX#1 (its beta)", "DIV#2 into SOFTMAX#3 (its beta)"}));
}

// GhostNet's module: a conv and a depthwise conv of its output concatenated
// on channels, then cut to an odd count (SLICE); and a middle slice across
// both inputs. The concatenation copies only what the slice keeps.
TEST(GraphTest, SliceOfAConcatenationCopiesOnlyThePart) {
  for (const std::vector<int>& box : {std::vector<int>{0, 37}, std::vector<int>{10, 20}}) {
    Builder b;
    const int x = b.Tensor({1, 6, 7, 16}, true);
    const int primary = b.Tensor({1, 6, 7, 19}), cheap = b.Tensor({1, 6, 7, 19}), both = b.Tensor({1, 6, 7, 38});
    const int out = b.Tensor({1, 6, 7, box[1]}, true);
    b.Conv(x, primary, 16, 19, 1, 80, "CONV_2D#0");
    Node& dw = b.Add(OpType::kDepthwiseConv2D, {primary}, cheap, "DEPTHWISE_CONV_2D#1");
    dw.conv.kernel_height = dw.conv.kernel_width = 3;
    dw.conv.padding_top = dw.conv.padding_left = 1;
    dw.conv.weights = b.Constant(9 * 19, 81);
    b.Add(OpType::kConcatenation, {primary, cheap}, both, "CONCATENATION#2").axis = 3;
    b.Add(OpType::kSlice, {both}, out, "SLICE#3").begin = {0, 0, 0, box[0]};
    const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(6 * 7 * 16, 9), 0.0f);
    EXPECT_EQ(fusions, std::vector<std::string>({"SLICE#3 into CONCATENATION#2 (a part of each input)"}));
  }
}

// Squeeze-excitation: depthwise conv, MEAN over the pixels, two 1x1 convs,
// LOGISTIC, MUL of the depthwise output by that, a 1x1 project conv. The
// MUL folds into the project conv's weights where they are at most half of
// its input (8 of 16 -> 8 channels over 8x8 pixels), not otherwise (96).
TEST(GraphTest, SqueezeExcitationScaleFoldsIntoTheProjectConv) {
  for (int project : {8, 96}) {
    Builder b;
    const int x = b.Tensor({1, 8, 8, 16}, true);
    const int dw = b.Tensor({1, 8, 8, 16}), pooled = b.Tensor({1, 1, 1, 16}), squeezed = b.Tensor({1, 1, 1, 4});
    const int excited = b.Tensor({1, 1, 1, 16}), scale = b.Tensor({1, 1, 1, 16}), scaled = b.Tensor({1, 8, 8, 16});
    const int out = b.Tensor({1, 8, 8, project}, true);
    Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {x}, dw, "DEPTHWISE_CONV_2D#0");
    depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
    depthwise.conv.padding_top = depthwise.conv.padding_left = 1;
    depthwise.conv.weights = b.Constant(9 * 16, 50);
    b.Add(OpType::kMean, {dw}, pooled, "MEAN#1").axes = {1, 2};
    b.Conv(pooled, squeezed, 16, 4, 1, 51, "CONV_2D#2").act_min = 0.0f;
    b.Conv(squeezed, excited, 4, 16, 1, 53, "CONV_2D#3");
    b.Unary(kernels::UnaryOp::kSigmoid, excited, scale, "LOGISTIC#4");
    b.Add(OpType::kBinary, {dw, scale}, scaled, "MUL#5").binary_op = kernels::BinaryOp::kMul;
    b.Conv(scaled, out, 16, project, 1, 55, "CONV_2D#6");
    SCOPED_TRACE(project);
    const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(8 * 8 * 16, 5), 1e-5);
    const bool folded = std::find(fusions.begin(), fusions.end(),
                                  "MUL#5 into CONV_2D#6 (channel scale into its weights)") != fusions.end();
    EXPECT_EQ(folded, project == 8) << project;
  }
}

// MobileNet's inverted residual (1x1 expand, ReLU6 -> 3x3 depthwise, stride
// 1 or 2 -> 1x1 project [+ residual]) with a large expanded tensor runs in
// bands of rows: the same numbers as running the three convs whole.
TEST(GraphTest, InvertedResidualRunsInBandsAndGivesTheSameBits) {
  for (int stride : {1, 2})
  for (bool masked : {false, true}) {
    Builder b;
    const int h = 57, w = 40, cin = 16, expanded = 96, cout = stride == 1 ? 16 : 24;
    const int oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
    const int x = b.Tensor({2, h, w, cin}, true);
    const int e = b.Tensor({2, h, w, expanded}), d = b.Tensor({2, oh, ow, expanded});
    const int p = b.Tensor({2, oh, ow, cout}), out = b.Tensor({2, oh, ow, cout}, true);
    Node& expand = b.Conv(x, e, cin, expanded, 1, 40, "CONV_2D#0");
    expand.act_min = 0.0f;
    expand.act_max = 6.0f;
    Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {e}, d, "DEPTHWISE_CONV_2D#1");
    depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
    depthwise.conv.stride_height = depthwise.conv.stride_width = stride;
    depthwise.conv.padding_top = depthwise.conv.padding_left = stride == 1 ? 1 : 0;
    depthwise.conv.weights = b.Constant(9 * expanded, 41);
    depthwise.act_min = 0.0f;
    depthwise.act_max = 6.0f;
    if (masked) {  // masked chains: their masked rows are never written, read as one value
      Node& masked_expand = b.g.nodes[0];  // `expand` moved when the depthwise was added
      masked_expand.conv.mask = RandomMask(static_cast<size_t>(h) * w, 0.6, 44);
      masked_expand.conv.mask_add_bias = b.Constant(expanded, 45);
      depthwise.conv.mask = RandomMask(static_cast<size_t>(oh) * ow, 0.7, 46);
      depthwise.conv.mask_add_bias = b.Constant(expanded, 47);
    }
    // Masked too, the project conv reads the depthwise conv's masked pixels
    // as one value (dense, it reads its rows directly and they are written).
    auto project = [&](int output) {
      Node& conv = b.Conv(d, output, expanded, cout, 1, 42, "CONV_2D#2");
      if (masked) {
        conv.conv.mask = RandomMask(static_cast<size_t>(oh) * ow, 0.8, 48);
        conv.conv.mask_add_bias = b.Constant(cout, 49);
      }
    };
    if (stride == 1) {
      project(p);
      Node& add = b.Add(OpType::kBinary, {p, x}, out, "ADD#3");
      add.binary_op = kernels::BinaryOp::kAdd;
    } else {
      project(out);
    }
    const std::vector<float> input = Random(2 * h * w * cin, 43);
    ThreadPool pool(2), three(3);
    // A plan made for one thread, run on more (each band's ops split), and
    // plans made for the pool's threads: a lane per thread, segments of rows
    // as tasks (banded here below the threaded default size).
    struct Config {
      ThreadPool* pool;
      int plan_threads;
    };
    for (const Config& config : {Config{nullptr, 0}, Config{&pool, 0}, Config{&three, 0}, Config{&pool, 2},
                                 Config{&three, 3}}) {
      ThreadPool* threads = config.pool;
      const size_t min_bytes = config.plan_threads > 1 ? 1 : 0;
      std::vector<std::string> fusions;
      const std::vector<float> unfused = RunPlan(b, false, input, threads);
      const std::vector<float> fused = RunPlan(b, true, input, threads, &fusions, config.plan_threads, min_bytes);
      auto has = [&](const std::string& line) {
        return std::find(fusions.begin(), fusions.end(), line) != fusions.end();
      };
      EXPECT_TRUE(has("CONV_2D#0, DEPTHWISE_CONV_2D#1 and CONV_2D#2 into bands"));
      EXPECT_EQ(has("masked pixels of CONV_2D#0 read as one value by DEPTHWISE_CONV_2D#1"), masked);
      // With the residual (stride 1) the masked project conv computes every
      // pixel (a stage, 1536 multiply-adds per pixel at density 0.8: see
      // ComputeAllPays), reads its rows directly, and the depthwise conv
      // writes its masked pixels.
      EXPECT_EQ(has("masked pixels of DEPTHWISE_CONV_2D#1 read as one value by CONV_2D#2"), masked && stride == 2);
      EXPECT_EQ(fused, unfused) << "stride " << stride << " masked " << masked << " plan threads "
                                << config.plan_threads;
    }
    // A 2-thread plan bands this block (1.75 MB expanded) by default
    // (kMinBandedBytesThreaded), and not when told to band from 2 MB.
    const std::string banded = "CONV_2D#0, DEPTHWISE_CONV_2D#1 and CONV_2D#2 into bands";
    std::vector<std::string> fusions;
    RunPlan(b, true, input, &pool, &fusions, 2);
    EXPECT_NE(std::find(fusions.begin(), fusions.end(), banded), fusions.end());
    RunPlan(b, true, input, &pool, &fusions, 2, 2 * 1024 * 1024);
    EXPECT_EQ(std::find(fusions.begin(), fusions.end(), banded), fusions.end());
    // The profile's sparsity of the banded step: the masked share of its convs' output pixels.
    size_t zeros = 0, pixels = 0;
    for (const Node& node : b.g.nodes) {
      zeros += static_cast<size_t>(std::count(node.conv.mask.begin(), node.conv.mask.end(), 0));
      pixels += node.conv.mask.size();
    }
    PlanOptions options;
    std::string error;
    auto plan = PartitionPlan::Create(b.g, options, &error);
    ASSERT_NE(plan, nullptr) << error;
    ASSERT_FALSE(plan->steps().empty());
    EXPECT_FLOAT_EQ(plan->steps()[0].sparsity, masked ? static_cast<float>(zeros) / pixels : 0.0f);
  }
}

// A banded block planned for several threads has one copy of its convs per
// lane: a masked conv before it and a masked conv after it still elide
// their masked pixels across the block's ends, into and out of every
// lane's copy. The same bits as unfused, on plans for 2 and 3 threads.
TEST(GraphTest, MaskedOutputsAreElidedAcrossTheEndsOfLaneBands) {
  Builder b;
  const int n = 1, h = 23, w = 21, cin = 8, mid = 48, cout = 16;  // 16: CONV_2D#4 reads through pointers
  const int x = b.Tensor({n, h, w, cin}, true);
  const int s = b.Tensor({n, h, w, cin}), e = b.Tensor({n, h, w, mid}), d = b.Tensor({n, h, w, mid});
  const int p = b.Tensor({n, h, w, cout}), out = b.Tensor({n, h, w, cout}, true);
  auto mask = [&](Node& conv, int channels, double keep, unsigned seed) {
    conv.conv.mask = RandomMask(static_cast<size_t>(h) * w, keep, seed);
    conv.conv.mask_add_bias = b.Constant(channels, seed + 1);
  };
  mask(b.Conv(x, s, cin, cin, 3, 80, "CONV_2D#0"), cin, 0.6, 81);  // 3x3: reads its input through pointers
  mask(b.Conv(s, e, cin, mid, 1, 83, "CONV_2D#1"), mid, 0.7, 84);
  Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {e}, d, "DEPTHWISE_CONV_2D#2");
  depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
  depthwise.conv.padding_top = depthwise.conv.padding_left = 1;
  depthwise.conv.weights = b.Constant(9 * mid, 86);
  mask(depthwise, mid, 0.5, 87);
  mask(b.Conv(d, p, mid, cout, 1, 89, "CONV_2D#3"), cout, 0.8, 90);
  b.Conv(p, out, cout, cout, 3, 92, "CONV_2D#4");
  const std::vector<float> input = Random(static_cast<size_t>(n) * h * w * cin, 93);
  const std::vector<float> unfused = RunPlan(b, false, input, nullptr);
  ThreadPool two(2), three(3);
  for (ThreadPool* pool : {&two, &three}) {
    std::vector<std::string> fusions;
    EXPECT_EQ(RunPlan(b, true, input, pool, &fusions, pool->num_threads(), 1), unfused) << pool->num_threads();
    auto has = [&](const std::string& line) { return std::find(fusions.begin(), fusions.end(), line) != fusions.end(); };
    EXPECT_TRUE(has("CONV_2D#1, DEPTHWISE_CONV_2D#2 and CONV_2D#3 into bands"));
    EXPECT_TRUE(has("masked pixels of CONV_2D#0 read as one value by CONV_2D#1"));
    EXPECT_TRUE(has("masked pixels of CONV_2D#3 read as one value by CONV_2D#4"));
  }
}

// A masked conv whose every reader is a conv leaves its masked pixels
// unwritten; the readers take them as one value (the masked value through
// the conv's activation). Its output read by a second kind of op, or as a
// residual, is written. The same numbers as unfused, on 1-3 threads, and
// again after the arena held other values (a reader that took an unwritten
// pixel from memory would see them). A depthwise conv dense enough to run
// by image rows reads its input rows whole: then its producer writes them.
void CheckMaskedOutputsElided(double depthwise_density) {
  Builder b;
  // cout: enough multiply-adds per pixel that the masked CONV_2D#3, with a
  // residual stage, computes its active pixels alone (ComputeAllPays).
  const int n = 2, h = 20, w = 18, cin = 8, mid = 32, cout = 48;
  const int x = b.Tensor({n, h, w, cin}, true);
  const int e = b.Tensor({n, h, w, mid}), hs = b.Tensor({n, h, w, mid}), d = b.Tensor({n, h, w, mid});
  const int p = b.Tensor({n, h, w, cout}), q = b.Tensor({n, h, w, cout}), out = b.Tensor({n, h, w, cout}, true);
  Node& expand = b.Conv(x, e, cin, mid, 1, 50, "CONV_2D#0");
  expand.conv.mask = RandomMask(static_cast<size_t>(h) * w, 0.5, 51);
  expand.conv.mask_add_bias = b.Constant(mid, 52);
  b.Unary(kernels::UnaryOp::kHardSwish, e, hs, "HARD_SWISH#1");
  Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {hs}, d, "DEPTHWISE_CONV_2D#2");
  depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
  depthwise.conv.padding_top = depthwise.conv.padding_left = 1;
  depthwise.conv.weights = b.Constant(9 * mid, 53);
  depthwise.conv.mask = RandomMask(static_cast<size_t>(h) * w, depthwise_density, 54);
  depthwise.conv.mask_add_bias = b.Constant(mid, 55);
  Node& project = b.Conv(d, p, mid, cout, 1, 56, "CONV_2D#3");  // read by the ADD
  project.conv.mask = RandomMask(static_cast<size_t>(h) * w, 0.7, 57);
  project.conv.mask_add_bias = b.Constant(cout, 58);
  b.Conv(d, q, mid, cout, 3, 59, "CONV_2D#4");
  b.Add(OpType::kBinary, {p, q}, out, "ADD#5").binary_op = kernels::BinaryOp::kAdd;
  ThreadPool two(2), three(3);
  for (ThreadPool* threads : {static_cast<ThreadPool*>(nullptr), &two, &three}) {
    std::vector<std::string> fusions;
    for (unsigned seed : {60u, 61u}) {
      const std::vector<float> input = Random(static_cast<size_t>(n) * h * w * cin, seed);
      const std::vector<float> unfused = RunPlan(b, false, input, threads);
      const std::vector<float> fused = RunPlan(b, true, input, threads, &fusions);
      ASSERT_EQ(fused.size(), unfused.size());
      for (size_t i = 0; i < fused.size(); ++i) ASSERT_NEAR(fused[i], unfused[i], 1e-5) << i;
    }
    auto has = [&](const std::string& line) { return std::find(fusions.begin(), fusions.end(), line) != fusions.end(); };
    const bool by_image_rows = depthwise_density > 0.5 && kernels::SelectDepthwiseImageRows(nullptr) != nullptr &&
                               static_cast<size_t>(w) >= kernels::DepthwiseImageRowsMinWidth();
    EXPECT_EQ(has("masked pixels of CONV_2D#0 read as one value by DEPTHWISE_CONV_2D#2"), !by_image_rows)
        << depthwise_density;
    EXPECT_TRUE(has("masked pixels of DEPTHWISE_CONV_2D#2 read as one value by CONV_2D#3, CONV_2D#4"));
    for (const std::string& line : fusions) EXPECT_EQ(line.find("masked pixels of CONV_2D#3"), std::string::npos) << line;
  }
}

TEST(GraphTest, MaskedOutputsReadOnlyByConvsAreNotWritten) {
  CheckMaskedOutputsElided(0.4);  // 32 channels at 40%: the depthwise conv through pointers
  CheckMaskedOutputsElided(0.9);  // at 90%: by image rows where the CPU has that kernel (and takes it for 18 wide)
}

// A plan's steps run back to back on held workers, released after the last
// step returns. Released before the last step instead, a worker spinning for
// that step went to sleep just before it, so every run paid a second wakeup
// (15-30 us on this VM; 104 of 106 runs of MobileNetV2).
TEST(GraphTest, EveryStepFindsTheWorkersHeld) {
  Builder b;
  const Shape shape = {2, 16, 16, 16};
  const int x = b.Tensor(shape, true), c1 = b.Tensor(shape), c2 = b.Tensor(shape), out = b.Tensor(shape, true);
  b.Conv(x, c1, 16, 16, 3, 70, "CONV_2D#0");
  b.Conv(c1, c2, 16, 16, 3, 72, "CONV_2D#1");
  b.Conv(c2, out, 16, 16, 3, 74, "CONV_2D#2");
  std::string error;
  PlanOptions options;
  options.num_threads = 2;
  auto plan = PartitionPlan::Create(b.g, options, &error);
  ASSERT_NE(plan, nullptr) << error;
  const std::vector<float> input = Random(NumElements(shape), 75);
  std::vector<float> output(input.size());
  std::vector<float*> pointers(b.g.tensors.size(), nullptr);
  pointers[x] = const_cast<float*>(input.data());
  pointers[out] = output.data();
  ThreadPool pool(2);
  for (int run = 0; run < 5; ++run) ASSERT_TRUE(plan->Run(pointers, &pool, &error)) << error;
  EXPECT_EQ(pool.unheld_calls(), 0u);
  pool.ParallelFor(4, [](size_t) {});  // the counter counts: after the plan, the workers are released
  EXPECT_EQ(pool.unheld_calls(), 1u);
}

// Feeds `runs` runs to `chooser`, each taking `with_workers` or `on_caller`
// time units by the mode it chose; returns how many ran on the caller.
int FeedRuns(RunModeChooser* chooser, int runs, double with_workers, double on_caller) {
  int caller_runs = 0;
  for (int i = 0; i < runs; ++i) {
    const bool workers = chooser->NextRunUsesWorkers();
    caller_runs += workers ? 0 : 1;
    chooser->Record(workers ? with_workers : on_caller);
  }
  return caller_runs;
}

TEST(RunModeTest, QuietMachineKeepsTheWorkersAndProbesRarely) {
  RunModeChooser chooser;
  // Workers 1.8x faster (MobileNetV2 at 2 threads, quiet): probes at runs
  // 8, 26, 60, 126, 256, 514, then every 258, two runs each.
  const int caller_runs = FeedRuns(&chooser, 2000, 4.7, 8.5);
  EXPECT_TRUE(chooser.current_uses_workers());
  EXPECT_EQ(chooser.interval(), RunModeChooser::kMaxIntervalWorkers);
  EXPECT_LE(caller_runs, 2 * 11);
  EXPECT_GE(caller_runs, 2 * 6);
}

TEST(RunModeTest, ACoRunnerMovesTheRunsToTheCallerAndBack) {
  RunModeChooser chooser;
  EXPECT_EQ(FeedRuns(&chooser, 100, 4.7, 8.5), 2 * 3);  // probes at 8, 26 and 60
  // A co-runner takes the workers' core: runs with workers 11.5, the caller
  // alone 8.7. Three slow runs raise the median and ask for a probe, which
  // switches.
  FeedRuns(&chooser, 3 + RunModeChooser::kProbeRuns, 11.5, 8.7);
  EXPECT_FALSE(chooser.current_uses_workers());
  // It stays on the caller, probing the workers (2 runs each) ever more rarely.
  const int caller_runs = FeedRuns(&chooser, 300, 11.5, 8.7);
  EXPECT_FALSE(chooser.current_uses_workers());
  EXPECT_GE(caller_runs, 300 - 2 * 6);
  // The co-runner leaves: the next probe of the workers switches back.
  FeedRuns(&chooser, RunModeChooser::kMaxIntervalCaller + RunModeChooser::kProbeRuns, 4.7, 8.5);
  EXPECT_TRUE(chooser.current_uses_workers());
  EXPECT_LE(FeedRuns(&chooser, 500, 4.7, 8.5), 2 * 6);  // probes at 8, 16, 32, 64, 128, 256 runs apart
  EXPECT_TRUE(chooser.current_uses_workers());
}

TEST(RunModeTest, NoSwitchWithoutAClearMargin) {
  RunModeChooser chooser;
  // The caller alone 5% faster: below the switch margin, no switch ever.
  FeedRuns(&chooser, 1000, 10.0, 9.5);
  EXPECT_TRUE(chooser.current_uses_workers());
  // One slow run among normal ones asks for a probe; the probe keeps the workers.
  RunModeChooser noisy;
  for (int i = 0; i < 200; ++i) {
    const bool workers = noisy.NextRunUsesWorkers();
    noisy.Record(workers ? (i % 50 == 49 ? 30.0 : 5.0) : 9.0);
  }
  EXPECT_TRUE(noisy.current_uses_workers());
}

TEST(RunModeTest, ALoadThatSwingsBothModesAlikeCostsFewProbes) {
  RunModeChooser chooser;
  // The host's own load: every mode 1.6x slower for 20 runs in every 40,
  // the caller alone always 1.8x the workers' time. Each swing could ask for
  // a probe; those that keep the mode space the next ones out.
  int caller_runs = 0;
  for (int i = 0; i < 4000; ++i) {
    const double load = (i / 20) % 2 == 1 ? 1.6 : 1.0;
    const bool workers = chooser.NextRunUsesWorkers();
    caller_runs += workers ? 0 : 1;
    chooser.Record(load * (workers ? 5.0 : 9.0));
  }
  EXPECT_TRUE(chooser.current_uses_workers());
  EXPECT_LE(caller_runs, 2 * 40);  // 1% of the runs
}

// Runs on the caller alone split the work as for the workers: the same
// bits, whatever the mode, and the plan counts its runs in each.
TEST(GraphTest, RunsOnTheCallerAloneGiveTheWorkersBits) {
  Builder b;
  const int h = 29, w = 31, cin = 40, expanded = 64;
  const int x = b.Tensor({1, h, w, cin}, true);
  const int e = b.Tensor({1, h, w, expanded}), d = b.Tensor({1, h, w, expanded}), p = b.Tensor({1, h, w, cin});
  const int mean = b.Tensor({1, 1, 1, cin}, true);
  b.Conv(x, e, cin, expanded, 1, 80, "CONV_2D#0");
  Node& depthwise = b.Add(OpType::kDepthwiseConv2D, {e}, d, "DEPTHWISE_CONV_2D#1");
  depthwise.conv.kernel_height = depthwise.conv.kernel_width = 3;
  depthwise.conv.padding_top = depthwise.conv.padding_left = 1;
  depthwise.conv.weights = b.Constant(9 * expanded, 81);
  b.Conv(d, p, expanded, cin, 1, 82, "CONV_2D#2");
  // A global average pool of 899 rows of 40: with several threads each sums
  // its own rows and the partials are added after (another order than one pass).
  Node& pool_node = b.Add(OpType::kMean, {p}, mean, "MEAN#3");
  pool_node.axes = {1, 2};
  const std::vector<float> input = Random(static_cast<size_t>(h) * w * cin, 83);
  ThreadPool pool(2);
  std::vector<float> outputs[3];
  const PlanOptions::Workers modes[3] = {PlanOptions::Workers::kAlways, PlanOptions::Workers::kNever,
                                         PlanOptions::Workers::kAuto};
  for (int m = 0; m < 3; ++m) {
    PlanOptions options;
    options.num_threads = 2;
    options.min_banded_bytes = 1;  // banded: segments of rows, one lane each
    options.workers = modes[m];
    std::string error;
    auto plan = PartitionPlan::Create(b.g, options, &error);
    ASSERT_NE(plan, nullptr) << error;
    std::vector<float> out(cin);
    std::vector<float*> pointers(b.g.tensors.size(), nullptr);
    pointers[x] = const_cast<float*>(input.data());
    pointers[mean] = out.data();
    const int runs = 40;  // kAuto probes the caller alone at runs 8 and 26
    for (int run = 0; run < runs; ++run) {
      ASSERT_TRUE(plan->Run(pointers, &pool, &error)) << error;
      if (run == 0) outputs[m] = out;
      EXPECT_EQ(out, outputs[m]) << "run " << run;
    }
    EXPECT_EQ(plan->runs_with_workers() + plan->runs_on_caller(), static_cast<uint64_t>(runs));
    if (m == 0) EXPECT_EQ(plan->runs_on_caller(), 0u);
    if (m == 1) EXPECT_EQ(plan->runs_with_workers(), 0u);
    if (m == 2) EXPECT_GE(plan->runs_on_caller(), static_cast<uint64_t>(RunModeChooser::kProbeRuns));
    EXPECT_EQ(pool.unheld_calls(), 0u);
  }
  EXPECT_EQ(outputs[1], outputs[0]);
  EXPECT_EQ(outputs[2], outputs[0]);
  // Against one thread's plan: within rounding (the pool's partial sums).
  const std::vector<float> single = RunPlan(b, true, input, nullptr);
  ASSERT_EQ(single.size(), outputs[0].size());
  for (size_t c = 0; c < single.size(); ++c) EXPECT_NEAR(single[c], outputs[0][c], 1e-5f) << c;
  // ... and not the same bits: the equalities above are not those of one order.
  EXPECT_NE(single, outputs[0]) << "the pool's sum no longer splits: the test lost its point";
}

TEST(GraphTest, NoFusionAcrossATensorReadTwiceOrByTheCaller) {
  Builder b;
  const int x = b.Tensor({1, 4, 4, 4}, true);
  const int c = b.Tensor({1, 4, 4, 4}, true);  // the conv output is also a partition output
  b.Conv(x, c, 4, 4, 1, 3, "CONV_2D#0");
  const int r = b.Tensor({1, 4, 4, 4}, true);
  b.Unary(kernels::UnaryOp::kClamp, c, r, "RELU#1").act_min = 0.0f;
  Graph g = b.g;
  EXPECT_TRUE(FuseGraph(&g).empty());
  EXPECT_EQ(g.nodes.size(), 2u);
}

TEST(GraphTest, ArenaReusesMemoryAndReshapesAlias) {
  // x -> relu -> a -> relu -> b -> reshape -> c -> relu -> d -> relu -> out:
  // at most two of the internal tensors are alive at once, c is b.
  Builder b;
  const Shape shape = {1, 64, 64, 4};
  const int x = b.Tensor(shape, true);
  int prev = x;
  std::vector<int> internal;
  for (int i = 0; i < 4; ++i) {
    const int next = i == 3 ? b.Tensor({1, 64, 256}, true) : b.Tensor(i >= 2 ? Shape{1, 64, 256} : shape);
    if (i == 2) {
      b.Add(OpType::kReshape, {prev}, next, "RESHAPE#" + std::to_string(i));
    } else {
      b.Unary(kernels::UnaryOp::kClamp, prev, next, "RELU#" + std::to_string(i)).act_min = 0.0f;
    }
    prev = next;
  }
  PlanOptions no_fusion;
  no_fusion.fuse = false;
  std::string error;
  auto plan = PartitionPlan::Create(b.g, no_fusion, &error);
  ASSERT_NE(plan, nullptr) << error;
  // Two tensors of 64 KB (a, then b shared with c) alive together at most.
  EXPECT_EQ(plan->arena_bytes(), 2u * 64 * 64 * 4 * 4);
  const std::vector<float> input = Random(NumElements(shape), 2);
  std::vector<float> out(input.size());
  std::vector<float*> pointers(b.g.tensors.size(), nullptr);
  pointers[x] = const_cast<float*>(input.data());
  pointers[prev] = out.data();
  ASSERT_TRUE(plan->Run(pointers, nullptr, &error)) << error;
  for (size_t i = 0; i < input.size(); ++i) ASSERT_EQ(out[i], std::max(input[i], 0.0f));
  // A missing external buffer is an error, not a crash.
  pointers[prev] = nullptr;
  EXPECT_FALSE(plan->Run(pointers, nullptr, &error));
  EXPECT_NE(error.find("not allocated"), std::string::npos) << error;
}

TEST(GraphTest, ArenaCentresTensorsForTwoThreads) {
  // 1x1 convs of changing widths, every tensor but the ends internal: for
  // two threads the arena puts each tensor's middle on a centre shared by
  // every tensor it overlaps (so each line has one writer core), and the
  // plan computes what the one-thread plan does.
  Builder b;
  const int widths[] = {8, 32, 8, 64, 16, 48, 8};
  std::vector<int> tensors = {b.Tensor({1, 16, 16, widths[0]}, true)};
  for (size_t i = 1; i < std::size(widths); ++i) {
    tensors.push_back(b.Tensor({1, 16, 16, widths[i]}, i + 1 == std::size(widths)));
    b.Conv(tensors[i - 1], tensors[i], widths[i - 1], widths[i], 1, 40 + 2 * i, "CONV_2D#" + std::to_string(i));
  }
  PlanOptions one, two;
  one.fuse = two.fuse = false;
  two.num_threads = 2;
  std::string error;
  auto plan1 = PartitionPlan::Create(b.g, one, &error);
  auto plan2 = PartitionPlan::Create(b.g, two, &error);
  ASSERT_NE(plan1, nullptr) << error;
  ASSERT_NE(plan2, nullptr) << error;
  struct Range {
    size_t begin, end, middle;
  };
  std::vector<Range> ranges;
  for (size_t i = 1; i + 1 < tensors.size(); ++i) {
    // The arena rounds each tensor up to a cache line (16 floats).
    const size_t floats = (NumElements(b.g.tensors[tensors[i]].shape) + 15) / 16 * 16;
    const size_t offset = plan2->arena_offset(tensors[i]);
    ASSERT_NE(offset, SIZE_MAX);
    ranges.push_back({offset, offset + floats, offset + floats / 2 / 16 * 16});
  }
  EXPECT_EQ(plan2->arena_offset(tensors.front()), SIZE_MAX);  // external
  for (const Range& a : ranges) {
    for (const Range& c : ranges) {
      if (a.begin < c.end && c.begin < a.end) {
        EXPECT_EQ(a.middle, c.middle);
      }
    }
  }
  // Tensors alive together never share floats, or the outputs would differ.
  const std::vector<float> input = Random(NumElements(b.g.tensors[tensors.front()].shape), 9);
  std::vector<float> out1(NumElements(b.g.tensors[tensors.back()].shape)), out2(out1.size());
  std::vector<float*> pointers(b.g.tensors.size(), nullptr);
  pointers[tensors.front()] = const_cast<float*>(input.data());
  pointers[tensors.back()] = out1.data();
  ASSERT_TRUE(plan1->Run(pointers, nullptr, &error)) << error;
  ThreadPool pool(2);
  pointers[tensors.back()] = out2.data();
  ASSERT_TRUE(plan2->Run(pointers, &pool, &error)) << error;
  for (size_t i = 0; i < out1.size(); ++i) ASSERT_EQ(out1[i], out2[i]) << "index " << i;
}

TEST(GraphTest, ValidationNamesTheNode) {
  {
    Builder b;
    const int x = b.Tensor({1, 4}, true), y = b.Tensor({1, 4}), z = b.Tensor({1, 4}, true);
    b.Unary(kernels::UnaryOp::kTanh, y, z, "TANH#0");  // reads y, which nobody wrote
    b.Unary(kernels::UnaryOp::kTanh, x, y, "TANH#1");
    std::string error;
    EXPECT_EQ(PartitionPlan::Create(b.g, PlanOptions(), &error), nullptr);
    EXPECT_NE(error.find("TANH#0: reads tensor t1 before any node writes it"), std::string::npos) << error;
  }
  {
    Builder b;
    const int x = b.Tensor({1, 4, 4, 3}, true), y = b.Tensor({1, 4, 4, 5}, true);
    Node& mean = b.Add(OpType::kMean, {x}, y, "MEAN#0");
    mean.axes = {2, 0};
    std::string error;
    EXPECT_EQ(PartitionPlan::Create(b.g, PlanOptions(), &error), nullptr);
    EXPECT_NE(error.find("MEAN#0: mean: axes [2,0] are not sorted, distinct axes of [1,4,4,3]"), std::string::npos)
        << error;
  }
  {
    Builder b;
    const int x = b.Tensor({2, 3}, true), c = b.ConstantTensor({4, 3}, 1), y = b.Tensor({4, 3}, true);
    b.Add(OpType::kBinary, {x, c}, y, "ADD#0");
    std::string error;
    EXPECT_EQ(PartitionPlan::Create(b.g, PlanOptions(), &error), nullptr);
    EXPECT_NE(error.find("ADD#0: binary op: [2,3] and [4,3] do not broadcast"), std::string::npos) << error;
  }
  {  // int32 tensors are read by int ops and copies only
    Builder b;
    const int x = b.Tensor({2, 3}, true), y = b.Tensor({2, 3}, true);
    b.g.tensors[x].type = DataType::kInt32;
    b.Unary(kernels::UnaryOp::kTanh, x, y, "TANH#0");
    std::string error;
    EXPECT_EQ(PartitionPlan::Create(b.g, PlanOptions(), &error), nullptr);
    EXPECT_NE(error.find("TANH#0: UNARY of the wrong type: t0 is int32"), std::string::npos) << error;
  }
}

// Consecutive elementwise ops over one element count (float, int and bool
// values, scalar constants, a SELECT, CASTs both ways, a RESHAPE) run as one
// group, chunk by chunk: the same bits as one step each, at 1 and 2
// threads; a result read after the group (by a TRANSPOSE) and the
// RESHAPE's output read by the last ADD are written, the others never are;
// the last RESHAPE and ADD are a group of their own.
TEST(GraphTest, ElementwiseOpsRunAsOneGroupWithTheSameBits) {
  Builder b;
  const Shape shape = {3, 100, 124};  // 37 chunks: three tasks at 2 threads
  const int x = b.Tensor(shape, true);
  auto scalar = [&](float value, DataType type) {
    const int t = b.Tensor({1});
    b.constants.push_back(std::make_unique<std::vector<float>>(1, value));
    if (type == DataType::kInt32) {
      const int32_t bits = static_cast<int32_t>(value);
      std::memcpy(b.constants.back()->data(), &bits, 4);
    }
    b.g.tensors[t].constant = b.constants.back()->data();
    b.g.tensors[t].type = type;
    return t;
  };
  const int half = scalar(2.5f, DataType::kFloat32), one = scalar(1, DataType::kInt32);
  const int zero = scalar(0, DataType::kInt32);
  const int a = b.Tensor(shape), f = b.Tensor(shape), i = b.Tensor(shape), j = b.Tensor(shape);
  const int above = b.Tensor(shape), picked = b.Tensor(shape), back = b.Tensor(shape), flat = b.Tensor({3, 12400});
  const int t1 = b.Tensor({3, 124, 100}), t2 = b.Tensor(shape), t3 = b.Tensor({3, 12400});
  const int out = b.Tensor({3, 12400}, true);
  for (int t : {i, j, picked}) b.g.tensors[t].type = DataType::kInt32;
  b.g.tensors[above].type = DataType::kBool;
  b.Add(OpType::kBinary, {x, half}, a, "MUL#0").binary_op = kernels::BinaryOp::kMul;
  b.Unary(kernels::UnaryOp::kFloor, a, f, "FLOOR#1");
  b.Add(OpType::kCast, {f}, i, "CAST#2").cast_to = DataType::kInt32;
  b.Add(OpType::kIntBinary, {i, one}, j, "ADD#3").binary_op = kernels::BinaryOp::kIntAdd;
  b.Add(OpType::kBinary, {a, half}, above, "GREATER#4").binary_op = kernels::BinaryOp::kGreater;
  b.Add(OpType::kSelect, {above, j, zero}, picked, "SELECT_V2#5");
  b.Add(OpType::kCast, {picked}, back, "CAST#6").cast_to = DataType::kFloat32;
  b.Add(OpType::kReshape, {back}, flat, "RESHAPE#7");
  b.Add(OpType::kTranspose, {f}, t1, "TRANSPOSE#8").axes = {0, 2, 1};
  b.Add(OpType::kTranspose, {t1}, t2, "TRANSPOSE#9").axes = {0, 2, 1};
  b.Add(OpType::kReshape, {t2}, t3, "RESHAPE#10");
  b.Add(OpType::kBinary, {flat, t3}, out, "ADD#11").binary_op = kernels::BinaryOp::kAdd;
  const std::vector<float> input = Random(NumElements(shape), 17);
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, input, 0.0f);
  EXPECT_EQ(fusions, std::vector<std::string>({"8 elementwise ops MUL#0..RESHAPE#7 into one group (2 written)",
                                               "2 elementwise ops RESHAPE#10..ADD#11 into one group (1 written)"}));
  // And the values themselves: x * 2.5 floored, + 1 where x * 2.5 > 2.5, else
  // 0, plus the floor again.
  const std::vector<float> got = RunPlan(b, true, input, nullptr, nullptr, 1);
  for (size_t k = 0; k < input.size(); ++k) {
    const float scaled = input[k] * 2.5f, floor = std::floor(scaled);
    const float want = (scaled > 2.5f ? floor + 1.0f : 0.0f) + floor;
    ASSERT_EQ(got[k], want) << k;
  }
}

// NCHW self-attention as litert-torch writes it: scores = x^T x (the
// queries adjoint), a scale the softmax takes as its beta, then x x
// weights^T: one attention step, the same bits.
TEST(GraphTest, AttentionRunsAsOneStepWithTheSameBits) {
  Builder b;
  const int x = b.Tensor({2, 16, 300}, true);
  const int scale = b.ConstantTensor({1}, 3);
  const int scores = b.Tensor({2, 300, 300}), scaled = b.Tensor({2, 300, 300}), weights = b.Tensor({2, 300, 300});
  const int out = b.Tensor({2, 16, 300}, true);  // the last tensor: RunPlan's output
  b.Add(OpType::kBatchMatMul, {x, x}, scores, "BATCH_MATMUL#0").adj_x = true;
  Node& mul = b.Add(OpType::kBinary, {scores, scale}, scaled, "MUL#1");
  mul.binary_op = kernels::BinaryOp::kMul;
  *const_cast<float*>(b.g.tensors[scale].constant) = 0.25f;
  b.Add(OpType::kSoftmax, {scaled}, weights, "SOFTMAX#2");
  b.Add(OpType::kBatchMatMul, {x, weights}, out, "BATCH_MATMUL#3").adj_y = true;
  const std::vector<std::string> fusions = ExpectFusedAsUnfused(b, Random(2 * 16 * 300, 8), 1e-6f);
  EXPECT_EQ(fusions, std::vector<std::string>({"MUL#1 into SOFTMAX#2 (its beta)",
                                               "BATCH_MATMUL#0, SOFTMAX#2 and BATCH_MATMUL#3 into attention by row "
                                               "blocks"}));
}

// Values whose batch dims broadcast past the scores' (the second product's
// batches are not the scores' own): left as three steps, not fused.
TEST(GraphTest, AttentionWithValuesOfMoreBatchesStaysThreeSteps) {
  Builder b;
  const int x = b.Tensor({1, 16, 40}, true);
  const int values = b.ConstantTensor({3, 16, 40}, 4);
  const int scores = b.Tensor({1, 40, 40}), weights = b.Tensor({1, 40, 40});
  const int out = b.Tensor({3, 16, 40}, true);  // the last tensor: RunPlan's output
  b.Add(OpType::kBatchMatMul, {x, x}, scores, "BATCH_MATMUL#0").adj_x = true;
  b.Add(OpType::kSoftmax, {scores}, weights, "SOFTMAX#1");
  b.Add(OpType::kBatchMatMul, {values, weights}, out, "BATCH_MATMUL#2").adj_y = true;
  EXPECT_TRUE(ExpectFusedAsUnfused(b, Random(16 * 40, 9), 0.0f).empty());
}

// Index columns joined by a CONCATENATION along the last dim and read only
// by a GATHER_ND: the gather reads the columns, the same values.
TEST(GraphTest, IndexColumnsJoinTheGatherThatReadsThem) {
  Builder b;
  const int x = b.Tensor({2, 5, 3}, true);
  std::vector<std::vector<float>> values(2, std::vector<float>(4));
  const int32_t rows[4] = {0, 1, 1, 0}, cols[4] = {4, 0, 2, 3};
  std::memcpy(values[0].data(), rows, 16);
  std::memcpy(values[1].data(), cols, 16);
  std::vector<int> columns;
  for (auto& v : values) {
    const int t = b.Tensor({4, 1});
    b.constants.push_back(std::make_unique<std::vector<float>>(v));
    b.g.tensors[t].constant = b.constants.back()->data();
    b.g.tensors[t].type = DataType::kInt32;
    columns.push_back(t);
  }
  const int tuples = b.Tensor({4, 2}), out = b.Tensor({4, 3}, true);
  b.g.tensors[tuples].type = DataType::kInt32;
  b.Add(OpType::kConcatenation, columns, tuples, "CONCATENATION#0").axis = 1;
  b.Add(OpType::kGatherNd, {x, tuples}, out, "GATHER_ND#1");
  const std::vector<float> input = Random(30, 5);
  EXPECT_EQ(ExpectFusedAsUnfused(b, input, 0.0f),
            std::vector<std::string>({"CONCATENATION#0 into GATHER_ND#1 (index columns)"}));
  const std::vector<float> got = RunPlan(b, true, input, nullptr, nullptr, 1);
  for (int t = 0; t < 4; ++t) {
    for (int c = 0; c < 3; ++c) ASSERT_EQ(got[t * 3 + c], input[(rows[t] * 5 + cols[t]) * 3 + c]) << t;
  }
}

// Index arithmetic as grid_sample's: a float coordinate CAST to int32, an
// int ADD and MINIMUM, a GATHER_ND by the result at run time; an index out
// of range fails the run, naming the step, the tuple and params' shape.
TEST(GraphTest, IntStepsComputeIndicesAndABadOneFailsTheRun) {
  Builder b;
  const int params = b.Tensor({5, 2}, true), coords = b.Tensor({4, 1}, true);
  const int as_int = b.Tensor({4, 1}), shifted = b.Tensor({4, 1}), clamped = b.Tensor({4, 1});
  const int out = b.Tensor({4, 2}, true);
  const int32_t one_bits = 1, limit_bits = 5;
  float one, limit;
  std::memcpy(&one, &one_bits, 4);
  std::memcpy(&limit, &limit_bits, 4);
  const int one_t = b.Tensor({1}), limit_t = b.Tensor({1});
  b.g.tensors[one_t].constant = &one;
  b.g.tensors[limit_t].constant = &limit;
  for (int t : {as_int, shifted, clamped, one_t, limit_t}) b.g.tensors[t].type = DataType::kInt32;
  b.Add(OpType::kCast, {coords}, as_int, "CAST#0").cast_to = DataType::kInt32;
  b.Add(OpType::kIntBinary, {as_int, one_t}, shifted, "ADD#1").binary_op = kernels::BinaryOp::kIntAdd;
  b.Add(OpType::kIntBinary, {shifted, limit_t}, clamped, "MINIMUM#2").binary_op = kernels::BinaryOp::kIntMin;
  b.Add(OpType::kGatherNd, {params, clamped}, out, "GATHER_ND#3");
  std::string error;
  auto plan = PartitionPlan::Create(b.g, PlanOptions(), &error);
  ASSERT_NE(plan, nullptr) << error;
  std::vector<float> p = {0, 1, 10, 11, 20, 21, 30, 31, 40, 41}, c = {-0.5f, 1.9f, 2.0f, 2.5f}, o(8, -1.0f);
  std::vector<float*> pointers(b.g.tensors.size(), nullptr);
  pointers[params] = p.data();
  pointers[coords] = c.data();
  pointers[out] = o.data();
  ThreadPool pool(2);
  ASSERT_TRUE(plan->Run(pointers, &pool, &error)) << error;
  // -0.5 -> 0 -> 1; 1.9 -> 1 -> 2; 2.0 -> 2 -> 3; 2.5 -> 2 -> 3
  EXPECT_EQ(o, std::vector<float>({10, 11, 20, 21, 30, 31, 30, 31}));
  c = {0.0f, 4.2f, -3.0f, 1.0f};  // 4 + 1 -> min(5, 5) = 5: outside [0, 5); -3 + 1 = -2
  EXPECT_FALSE(plan->Run(pointers, &pool, &error));
  EXPECT_NE(error.find("GATHER_ND#3: gather_nd: index tuple 1 (5) is outside params [5,2]"), std::string::npos)
      << error;
}

}  // namespace
}  // namespace graph
}  // namespace actsparse
