// The delegate glue against a fake interpreter: ABI checks, metadata reading,
// the node filter, and the registration handed to the runtime.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "delegate/format/mask_format.h"
#include "delegate/format/metadata_name.h"
#include "delegate/graph/plan.h"
#include "delegate/tflite/abi_check.h"
#include "delegate/tflite/actsparse_delegate.h"
#include "delegate/tflite/graph_import.h"
#include "delegate/tflite/simple_delegate.h"
#include "delegate/tflite/testing/fake_context.h"

namespace actsparse {
namespace {

using testing::FakeGraph;

// input -> CONV_2D -> MUL(mask) -> ADD(bias): the shape a masked conv takes.
struct ChainGraph {
  FakeGraph graph;
  TfLiteConvParamsPrefix conv_params{kTfLitePaddingSame, 1, 1, kTfLiteActNone, 1, 1};
  TfLiteActivationParamsPrefix mul_params{kTfLiteActNone};
  TfLiteActivationParamsPrefix add_params{kTfLiteActRelu};
  int input, weights, conv_out, mask;
  std::vector<uint8_t> mask_bits;
  ChainGraph() {
    input = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 3});
    weights = graph.AddTensor(kTfLiteFloat32, {4, 3, 3, 3}, kTfLiteMmapRo);
    const int bias = graph.AddTensor(kTfLiteFloat32, {4}, kTfLiteMmapRo);
    conv_out = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
    mask = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 1}, kTfLiteMmapRo);
    const int mul_out = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
    const int add_bias = graph.AddTensor(kTfLiteFloat32, {1, 1, 1, 4}, kTfLiteMmapRo);
    const int out = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
    graph.SetConstant(weights, std::vector<float>(4 * 27, 0.5f));
    graph.SetConstant(bias, std::vector<float>(4, 0.0f));
    graph.SetConstant(add_bias, std::vector<float>{1, 2, 3, 4});
    std::vector<float> mask_values(64);
    for (int i = 0; i < 64; ++i) {
      mask_bits.push_back(i % 3 != 0);
      mask_values[i] = mask_bits.back();
    }
    graph.SetConstant(mask, mask_values);
    graph.AddNode(kTfLiteBuiltinConv2d, {input, weights, bias}, {conv_out}, &conv_params);
    graph.AddNode(kTfLiteBuiltinMul, {conv_out, mask}, {mul_out}, &mul_params);
    graph.AddNode(kTfLiteBuiltinAdd, {mul_out, add_bias}, {out}, &add_params);
  }
  // Metadata for this graph's chain, optionally with one field changed.
  std::string Metadata(int conv_op = 0, int mul_op = 1, int add_op = 2, int mask_tensor = -1,
                       int flip_pixel = -1) const {
    std::vector<uint8_t> bits = mask_bits;
    if (flip_pixel >= 0) bits[flip_pixel] ^= 1;
    return EncodeOneChain("conv", conv_op, mul_op, add_op, mask_tensor >= 0 ? mask_tensor : mask, 8, 8, bits);
  }
  static std::string EncodeOneChain(const std::string& name, int conv_op, int mul_op, int add_op,
                                    int mask_tensor, uint32_t h, uint32_t w,
                                    const std::vector<uint8_t>& bits);
};

// Writes a one-record entry per docs/FORMAT.md (the Python writer is the
// format's owner; this is the minimum needed to drive the glue in C++).
std::string ChainGraph::EncodeOneChain(const std::string& name, int conv_op, int mul_op,
                                       int add_op, int mask_tensor, uint32_t h, uint32_t w,
                                       const std::vector<uint8_t>& bits) {
  auto put32 = [](std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); };
  std::string record;
  std::string name_padded = name;
  while (name_padded.size() % 4) name_padded.push_back('\0');
  std::string packed((h * w + 7) / 8, '\0');
  uint32_t active = 0;
  for (size_t p = 0; p < bits.size(); ++p) {
    if (bits[p]) {
      packed[p / 8] = static_cast<char>(packed[p / 8] | (1 << (p % 8)));
      ++active;
    }
  }
  while (packed.size() % 4) packed.push_back('\0');
  const uint32_t record_size = static_cast<uint32_t>(48 + name_padded.size() + packed.size());
  put32(&record, record_size);
  put32(&record, 0);
  put32(&record, static_cast<uint32_t>(-1));
  put32(&record, static_cast<uint32_t>(conv_op));
  put32(&record, static_cast<uint32_t>(mul_op));
  put32(&record, static_cast<uint32_t>(add_op));
  put32(&record, static_cast<uint32_t>(mask_tensor));
  put32(&record, h);
  put32(&record, w);
  put32(&record, active);
  const float sparsity = 1.0f - static_cast<float>(active) / static_cast<float>(h * w);
  record.append(reinterpret_cast<const char*>(&sparsity), 4);
  const uint16_t name_length = static_cast<uint16_t>(name.size()), reserved = 0;
  record.append(reinterpret_cast<const char*>(&name_length), 2);
  record.append(reinterpret_cast<const char*>(&reserved), 2);
  record += name_padded + packed;
  std::string entry = "ASPM";
  const uint16_t version = 1, header = 16;
  entry.append(reinterpret_cast<const char*>(&version), 2);
  entry.append(reinterpret_cast<const char*>(&header), 2);
  put32(&entry, 1);
  put32(&entry, static_cast<uint32_t>(16 + record.size() + 4));
  entry += record;
  put32(&entry, Crc32(reinterpret_cast<const uint8_t*>(entry.data()), entry.size()));
  return entry;
}

DelegateOptions ChainsOnly() {
  DelegateOptions options;
  options.claim = DelegateOptions::Claim::kChains;
  return options;
}

struct DelegateHandle {
  TfLiteDelegate* delegate;
  ActsparseDelegate* impl;
  explicit DelegateHandle(DelegateOptions options = {}) {
    auto owned = std::make_unique<ActsparseDelegate>(options);
    impl = owned.get();
    delegate = CreateTfLiteDelegate(std::move(owned));
  }
  ~DelegateHandle() { DestroyTfLiteDelegate(delegate); }
};

TEST(DelegateTest, NoMetadataClaimsNothingWithClaimChains) {
  ChainGraph g;
  DelegateHandle d(ChainsOnly());
  ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_TRUE(s.abi_ok) << s.abi_error;
  EXPECT_FALSE(s.has_metadata);
  EXPECT_EQ(s.num_nodes, 3u);
  EXPECT_EQ(s.op_counts.at("CONV_2D"), 1);
  EXPECT_EQ(s.op_counts.at("MUL"), 1);
  EXPECT_EQ(s.num_claimed, 0u);
  EXPECT_EQ(g.graph.replace_calls(), 0);
}

TEST(DelegateTest, NoMetadataClaimsTheWholeGraphDense) {
  ChainGraph g;
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_FALSE(s.has_metadata);
  EXPECT_EQ(s.num_claimed, 3u);
  EXPECT_EQ(s.num_chains_claimed, 0u);
  EXPECT_TRUE(s.refusals.empty());
  EXPECT_EQ(g.graph.replaced_nodes(), std::vector<int>({0, 1, 2}));
}

// The ops whose tensors the ABI check reads are exactly the ops the importer
// reads: a node of any other builtin code is refused as not supported.
TEST(DelegateTest, ImportsBuiltinListsTheImportersOps) {
  int imported = 0;
  for (int32_t code = 0; code < 256; ++code) {
    FakeGraph g;
    const int in = g.AddTensor(kTfLiteFloat32, {1, 4, 4, 2});
    const int out = g.AddTensor(kTfLiteFloat32, {1, 4, 4, 2});
    g.AddNode(code, {in}, {out});
    NodeInfo info;
    info.index = 0;
    ASSERT_EQ(g.context()->GetNodeAndRegistration(g.context(), 0, &info.node, &info.registration), kTfLiteOk);
    graph::Node node;
    std::string why;
    const bool read = ImportNode(g.context(), info, &node, &why) || why != "op not supported by the delegate";
    EXPECT_EQ(ImportsBuiltin(code), read) << BuiltinName(code) << ": " << why;
    imported += read;
  }
  EXPECT_GE(imported, 38);
}

TEST(DelegateTest, OnlyTheMainSubgraphIsDelegated) {
  // A model of three subgraphs, as a StableHLO reduction's bodies make: the
  // runtime applies the delegate to each in turn.
  ChainGraph main_graph, body1, body2;
  const std::vector<FakeGraph*> model = {&main_graph.graph, &body1.graph, &body2.graph};
  for (FakeGraph* g : model) g->SetModelSubgraphs(model);
  DelegateHandle d;
  for (FakeGraph* g : model) ASSERT_EQ(d.delegate->Prepare(g->context(), d.delegate), kTfLiteOk);
  EXPECT_EQ(main_graph.graph.replace_calls(), 1);
  EXPECT_EQ(main_graph.graph.replaced_nodes(), std::vector<int>({0, 1, 2}));
  EXPECT_EQ(body1.graph.replace_calls(), 0);
  EXPECT_EQ(body2.graph.replace_calls(), 0);
  // The report is the main graph's, not the last subgraph's.
  EXPECT_EQ(d.impl->last_prepare().num_claimed, 3u);
  // Every other subgraph acquired to find our index was released; our own
  // (still in its delegate context) was not.
  EXPECT_EQ(main_graph.graph.unreleased_subgraphs(), 1);
  EXPECT_EQ(body1.graph.unreleased_subgraphs(), 1);
  EXPECT_EQ(body2.graph.unreleased_subgraphs(), 1);
}

// STABLEHLO_REDUCE_WINDOW over H and W (3x3, stride 2, padding 1), its body
// a subgraph of one scalar op read through AcquireSubgraphContext: ADD from
// 0 is a window sum, MAXIMUM from -inf a max pool; anything else is refused
// with what it is. Every body acquired is released.
// Imports node `index` of `g` alone (with `folded`'s int / bool values, or
// none): what the node filter decides for it.
bool ImportOne(FakeGraph& g, int index, graph::Node* node, std::string* why,
               const FoldedTensors& folded = FoldedTensors()) {
  NodeInfo info;
  info.index = index;
  if (g.context()->GetNodeAndRegistration(g.context(), index, &info.node, &info.registration) != kTfLiteOk) {
    *why = "no node " + std::to_string(index);
    return false;
  }
  return ImportNode(g.context(), info, folded, node, why);
}

// Makes `body` a StableHLO reduction's body of one `op` on float scalars,
// the second subgraph of a model whose first is `main_graph`.
void SetReductionBody(FakeGraph* main_graph, FakeGraph* body, int32_t op) {
  const int a = body->AddTensor(kTfLiteFloat32, {}), b = body->AddTensor(kTfLiteFloat32, {});
  const int out = body->AddTensor(kTfLiteFloat32, {});
  static TfLiteActivationParamsPrefix none{kTfLiteActNone};
  body->AddNode(op, {a, b}, {out}, &none);
  const std::vector<FakeGraph*> model = {main_graph, body};
  for (FakeGraph* g : model) g->SetModelSubgraphs(model);
}

TEST(DelegateTest, ReduceWindowReadsItsBodySubgraph) {
  struct Case {
    int32_t body_op;
    float init;
    int64_t dilation;  // of the window over H
    const char* refusal;  // null: imported
  };
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {kTfLiteBuiltinAdd, 0.0f, 1, nullptr},
      {kTfLiteBuiltinMaximum, -inf, 1, nullptr},
      {kTfLiteBuiltinMul, 0.0f, 1, "a body of MUL from 0"},
      {kTfLiteBuiltinAdd, 1.0f, 1, "a body of ADD from 1"},
      {kTfLiteBuiltinAdd, 0.0f, 2, "dilations are not run"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(BuiltinName(c.body_op) + " from " + std::to_string(c.init));
    FakeGraph main_graph, body;
    const int in = main_graph.AddTensor(kTfLiteFloat32, {1, 6, 5, 3});
    const int init = main_graph.AddTensor(kTfLiteFloat32, {}, kTfLiteMmapRo);
    main_graph.SetConstant(init, std::vector<float>{c.init});
    const int out = main_graph.AddTensor(kTfLiteFloat32, {1, 3, 3, 3});
    TfLiteStablehloReduceWindowParams params{};
    const int64_t window[4] = {1, 3, 3, 1}, strides[4] = {1, 2, 2, 1};
    for (int d = 0; d < 4; ++d) {
      params.window_dimensions[d] = window[d];
      params.window_strides[d] = strides[d];
      params.base_dilations[d] = params.window_dilations[d] = 1;
    }
    params.window_dilations[1] = c.dilation;
    params.padding[2] = params.padding[3] = params.padding[4] = params.padding[5] = 1;
    params.body_subgraph_index = 1;
    main_graph.AddNode(kTfLiteBuiltinStablehloReduceWindow, {in, init}, {out}, &params);
    SetReductionBody(&main_graph, &body, c.body_op);
    graph::Node node;
    std::string why;
    const bool imported = ImportOne(main_graph, 0, &node, &why);
    EXPECT_EQ(main_graph.unreleased_subgraphs(), 0);  // acquired through the main graph's context
    if (c.refusal != nullptr) {
      EXPECT_FALSE(imported);
      EXPECT_NE(why.find(c.refusal), std::string::npos) << why;
      continue;
    }
    ASSERT_TRUE(imported) << why;
    EXPECT_EQ(node.type, c.body_op == kTfLiteBuiltinAdd ? graph::OpType::kSumPool2D : graph::OpType::kMaxPool2D);
    EXPECT_EQ(node.pool.filter_height, 3);
    EXPECT_EQ(node.pool.filter_width, 3);
    EXPECT_EQ(node.pool.stride_height, 2);
    EXPECT_EQ(node.pool.padding_top, 1);
    EXPECT_EQ(node.pool.padding_left, 1);
    EXPECT_EQ(node.inputs, std::vector<int>({in}));
  }
}

// A reduce-window over one dim of any rank (a local response norm's window
// sum over NCHW's channels) pools that dim, the dims before it as the
// batch and those after as the channels; windows over two dims that are
// not neighbours stay with the runtime.
TEST(DelegateTest, ReduceWindowPoolsOneDimOrTwoNeighbours) {
  for (bool neighbours : {true, false}) {
    FakeGraph main_graph, body;
    const int in = main_graph.AddTensor(kTfLiteFloat32, {2, 1, 10, 6, 10});
    const int init = main_graph.AddTensor(kTfLiteFloat32, {}, kTfLiteMmapRo);
    main_graph.SetConstant(init, std::vector<float>{0.0f});
    const int out = main_graph.AddTensor(kTfLiteFloat32, neighbours ? std::vector<int>{2, 1, 6, 6, 10}
                                                                    : std::vector<int>{2, 1, 6, 6, 8});
    TfLiteStablehloReduceWindowParams params{};
    for (int d = 0; d < 5; ++d) {
      params.window_dimensions[d] = params.window_strides[d] = 1;
      params.base_dilations[d] = params.window_dilations[d] = 1;
    }
    params.window_dimensions[2] = 5;
    if (!neighbours) params.window_dimensions[4] = 3;
    params.body_subgraph_index = 1;
    main_graph.AddNode(kTfLiteBuiltinStablehloReduceWindow, {in, init}, {out}, &params);
    SetReductionBody(&main_graph, &body, kTfLiteBuiltinAdd);
    graph::Node node;
    std::string why;
    const bool imported = ImportOne(main_graph, 0, &node, &why);
    EXPECT_EQ(main_graph.unreleased_subgraphs(), 0);
    if (!neighbours) {
      EXPECT_FALSE(imported);
      EXPECT_NE(why.find("windows over dims [2,4]"), std::string::npos) << why;
      continue;
    }
    ASSERT_TRUE(imported) << why;
    EXPECT_EQ(node.type, graph::OpType::kSumPool2D);
    EXPECT_EQ(node.pool.height_axis, 2);
    EXPECT_EQ(node.pool.width_axis, -1);
    const Pool2DParams p = graph::PoolParams(node, {2, 1, 10, 6, 10}, {2, 1, 6, 6, 10});
    EXPECT_EQ(p.batch, 2);
    EXPECT_EQ(p.input_height, 10);
    EXPECT_EQ(p.input_width, 1);
    EXPECT_EQ(p.channels, 60);
    EXPECT_EQ(p.output_height, 6);
    EXPECT_EQ(p.filter_height, 5);
    EXPECT_EQ(p.filter_width, 1);
  }
}

// L2_NORMALIZATION with a fused activation stays with the runtime, whose
// kernel refuses it: claimed, the model would run only through the delegate.
TEST(DelegateTest, L2NormalizationWithAnActivationIsRefused) {
  for (int32_t activation : {kTfLiteActNone, kTfLiteActRelu}) {
    FakeGraph g;
    const int in = g.AddTensor(kTfLiteFloat32, {2, 7});
    const int out = g.AddTensor(kTfLiteFloat32, {2, 7});
    TfLiteActivationParamsPrefix params{activation};
    g.AddNode(kTfLiteBuiltinL2Normalization, {in}, {out}, &params);
    graph::Node node;
    std::string why;
    const bool imported = ImportOne(g, 0, &node, &why);
    EXPECT_EQ(imported, activation == kTfLiteActNone) << why;
    if (!imported) EXPECT_NE(why.find("a fused activation"), std::string::npos) << why;
  }
}

// REVERSE_V2 is a strided slice of stride -1 along its axes; axes the
// builtin kernel refuses at Invoke (not contiguous, repeated, out of
// range) stay with the runtime.
TEST(DelegateTest, ReverseTakesTheAxesTheBuiltinTakes) {
  struct Case {
    std::vector<int32_t> axes;
    std::vector<int> begin, strides;  // empty: refused
    const char* why;
  };
  for (const Case& c : std::vector<Case>{{{2}, {0, 0, 4, 0}, {1, 1, -1, 1}, ""},
                                         {{-1, -2}, {0, 0, 4, 6}, {1, 1, -1, -1}, ""},
                                         {{1, 3}, {}, {}, "not contiguous"},
                                         {{2, 2}, {}, {}, "not contiguous"},
                                         {{4}, {}, {}, "out of range"}}) {
    FakeGraph g;
    const int in = g.AddTensor(kTfLiteFloat32, {2, 3, 5, 7});
    const int axes = g.AddTensor(kTfLiteInt32, {static_cast<int>(c.axes.size())});
    g.SetConstant(axes, c.axes);
    const int out = g.AddTensor(kTfLiteFloat32, {2, 3, 5, 7});
    g.AddNode(kTfLiteBuiltinReverseV2, {in, axes}, {out});
    graph::Node node;
    std::string why;
    const bool imported = ImportOne(g, 0, &node, &why);
    ASSERT_EQ(imported, c.begin.size() > 0) << why;
    if (!imported) {
      EXPECT_NE(why.find(c.why), std::string::npos) << why;
      continue;
    }
    EXPECT_EQ(node.type, graph::OpType::kStridedSlice);
    EXPECT_EQ(node.begin, c.begin);
    EXPECT_EQ(node.strides, c.strides);
  }
}

// PSPNet's index grid as litert-torch writes it: int BROADCAST_TOs,
// RESHAPEs and a CONCATENATION of constants feeding a GATHER_ND. The
// folder computes the grid; GATHER_ND imports with its offsets, and is
// refused without the folder (its indices are not a constant) and with an
// index out of range (the builtin kernel fails on it).
TEST(DelegateTest, FoldsAnIndexGridAndGathersByIt) {
  for (int bad_row : {-1, 6}) {
    for (bool fold : {true, false}) {
      FakeGraph g;
      const int params = g.AddTensor(kTfLiteFloat32, {6, 7, 2, 5});
      auto int_constant = [&](const std::vector<int>& dims, const std::vector<int32_t>& values) {
        const int t = g.AddTensor(kTfLiteInt32, dims);
        g.SetConstant(t, values);
        return t;
      };
      const int ys = int_constant({3, 1}, {0, 5, bad_row < 0 ? 2 : bad_row});
      const int xs = int_constant({4}, {6, 0, 3, 1});
      const int to = int_constant({2}, {3, 4});
      const int column = int_constant({3}, {3, 4, 1});
      const int yb = g.AddTensor(kTfLiteInt32, {3, 4}), xb = g.AddTensor(kTfLiteInt32, {3, 4});
      const int yr = g.AddTensor(kTfLiteInt32, {3, 4, 1}), xr = g.AddTensor(kTfLiteInt32, {3, 4, 1});
      const int grid = g.AddTensor(kTfLiteInt32, {3, 4, 2});
      const int out = g.AddTensor(kTfLiteFloat32, {3, 4, 2, 5});
      g.AddNode(kTfLiteBuiltinBroadcastTo, {ys, to}, {yb});
      g.AddNode(kTfLiteBuiltinBroadcastTo, {xs, to}, {xb});
      g.AddNode(kTfLiteBuiltinReshape, {yb, column}, {yr});
      g.AddNode(kTfLiteBuiltinReshape, {xb, column}, {xr});
      TfLiteConcatenationParams concat{2, kTfLiteActNone};
      g.AddNode(kTfLiteBuiltinConcatenation, {yr, xr}, {grid}, &concat);
      g.AddNode(kTfLiteBuiltinGatherNd, {params, grid}, {out});
      std::vector<NodeInfo> plan(6);
      for (int i = 0; i < 6; ++i) {
        plan[i].index = i;
        ASSERT_EQ(g.context()->GetNodeAndRegistration(g.context(), i, &plan[i].node, &plan[i].registration),
                  kTfLiteOk);
      }
      FoldedTensors folded;
      if (fold) folded.Build(g.context(), plan);
      EXPECT_EQ(folded.num_folded_nodes(), fold ? 5u : 0u);
      graph::Node node;
      std::string why;
      const bool imported = ImportNode(g.context(), plan[5], folded, &node, &why);
      if (!fold) {  // indices read at run time
        ASSERT_TRUE(imported) << why;
        EXPECT_EQ(node.type, graph::OpType::kGatherNd);
        EXPECT_EQ(node.inputs, std::vector<int>({params, grid}));
        continue;
      }
      const std::vector<int64_t>* values = folded.Values(g.context(), grid);
      ASSERT_NE(values, nullptr);
      const int row_of[3] = {0, 5, bad_row < 0 ? 2 : bad_row};
      const int col_of[4] = {6, 0, 3, 1};
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 4; ++c) {
          EXPECT_EQ((*values)[(r * 4 + c) * 2], row_of[r]);
          EXPECT_EQ((*values)[(r * 4 + c) * 2 + 1], col_of[c]);
        }
      }
      if (bad_row >= 0) {
        EXPECT_FALSE(imported);
        EXPECT_NE(why.find("index 6 out of range for dim 0"), std::string::npos) << why;
        continue;
      }
      ASSERT_TRUE(imported) << why;
      EXPECT_EQ(node.type, graph::OpType::kGather);
      ASSERT_EQ(node.gather_offsets.size(), 12u);
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 4; ++c) EXPECT_EQ(node.gather_offsets[r * 4 + c], (row_of[r] * 7 + col_of[c]) * 10u);
      }
    }
  }
}

// Int tensors are held as int32: any RESHAPE of one is claimed, int32
// arithmetic and comparisons are; what int32 would not hold exactly (int64
// arithmetic, an int64 constant past int32, a CAST from floats to int64)
// stays with the runtime, as do int ops the delegate does not compute.
TEST(DelegateTest, IntTensorsAreClaimedWhereInt32HoldsThem) {
  FakeGraph g;
  const int x = g.AddTensor(kTfLiteFloat32, {2, 3, 5});
  const int axis = g.AddTensor(kTfLiteInt32, {1});
  g.SetConstant(axis, std::vector<int32_t>{2});
  const int indices = g.AddTensor(kTfLiteInt32, {2, 3});
  const int shape = g.AddTensor(kTfLiteInt32, {1});
  g.SetConstant(shape, std::vector<int32_t>{6});
  const int flat = g.AddTensor(kTfLiteInt32, {6});
  const int wide = g.AddTensor(kTfLiteInt64, {2, 3}), wide_sum = g.AddTensor(kTfLiteInt64, {2, 3});
  const int big = g.AddTensor(kTfLiteInt64, {1}), small = g.AddTensor(kTfLiteInt64, {1});
  g.SetConstant(big, std::vector<int64_t>{int64_t{1} << 40});
  g.SetConstant(small, std::vector<int64_t>{-7});
  const int sum = g.AddTensor(kTfLiteInt32, {2, 3}), quotient = g.AddTensor(kTfLiteInt32, {2, 3});
  const int less = g.AddTensor(kTfLiteBool, {2, 3}), less_big = g.AddTensor(kTfLiteBool, {2, 3});
  const int as_int64 = g.AddTensor(kTfLiteInt64, {2, 3, 5}), as_int = g.AddTensor(kTfLiteInt32, {2, 3, 5});
  const int as_float = g.AddTensor(kTfLiteFloat32, {2, 3});
  TfLiteActivationParamsPrefix relu{kTfLiteActRelu};
  const int arg_max = g.AddNode(kTfLiteBuiltinArgMax, {x, axis}, {indices});
  const int reshape = g.AddNode(kTfLiteBuiltinReshape, {indices, shape}, {flat});
  const int add = g.AddNode(kTfLiteBuiltinAdd, {indices, indices}, {sum});
  const int add_relu = g.AddNode(kTfLiteBuiltinAdd, {indices, indices}, {sum}, &relu);
  const int div = g.AddNode(kTfLiteBuiltinDiv, {indices, indices}, {quotient});
  const int add64 = g.AddNode(kTfLiteBuiltinAdd, {wide, wide}, {wide_sum});
  const int compare = g.AddNode(kTfLiteBuiltinLess, {wide, small}, {less});
  const int compare_big = g.AddNode(kTfLiteBuiltinLess, {wide, big}, {less_big});
  const int to_int64 = g.AddNode(kTfLiteBuiltinCast, {x}, {as_int64});
  const int to_int = g.AddNode(kTfLiteBuiltinCast, {x}, {as_int});
  const int to_float = g.AddNode(kTfLiteBuiltinCast, {indices}, {as_float});
  struct Expectation {
    int node;
    graph::OpType type;  // when claimed
    const char* why;     // when refused
  };
  const Expectation expectations[] = {
      {arg_max, graph::OpType::kArgReduce, nullptr},
      {reshape, graph::OpType::kReshape, nullptr},
      {add, graph::OpType::kIntBinary, nullptr},
      {add_relu, graph::OpType::kIntBinary, "a fused activation on ints"},
      {div, graph::OpType::kIntBinary, "output tensor 10 is int32, not float32"},
      {add64, graph::OpType::kIntBinary, "int64 arithmetic"},
      {compare, graph::OpType::kIntBinary, nullptr},
      {compare_big, graph::OpType::kIntBinary, "an int64 constant with values beyond int32"},
      {to_int64, graph::OpType::kCast, "a cast from float32 to int64"},
      {to_int, graph::OpType::kCast, nullptr},
      {to_float, graph::OpType::kCast, nullptr},
  };
  for (const Expectation& e : expectations) {
    NodeInfo info;
    info.index = e.node;
    ASSERT_EQ(g.context()->GetNodeAndRegistration(g.context(), e.node, &info.node, &info.registration), kTfLiteOk);
    graph::Node node;
    std::string why;
    const bool imported = ImportNode(g.context(), info, &node, &why);
    SCOPED_TRACE("node " + std::to_string(e.node));
    if (e.why != nullptr) {
      EXPECT_FALSE(imported);
      EXPECT_NE(why.find(e.why), std::string::npos) << why;
      continue;
    }
    ASSERT_TRUE(imported) << why;
    EXPECT_EQ(node.type, e.type);
  }
}

// Binary ops whose builtin kernels take less than NumPy broadcasting stay
// with the runtime beyond it: ATAN2 of two shapes, POW / FLOOR_DIV /
// FLOOR_MOD broadcasting above 4-D.
TEST(DelegateTest, BinaryOpsStayWithinTheirBuiltinsBroadcasts) {
  struct Case {
    int32_t code;
    std::vector<int> a, b;
    const char* refusal;  // null: imported
  };
  for (const Case& c : std::vector<Case>{{kTfLiteBuiltinAtan2, {2, 5, 7}, {2, 5, 7}, nullptr},
                                         {kTfLiteBuiltinAtan2, {2, 5, 7}, {7}, "two shapes"},
                                         {kTfLiteBuiltinPow, {2, 5, 7, 3}, {3}, nullptr},
                                         {kTfLiteBuiltinFloorDiv, {2, 5, 7, 3, 4}, {4}, "above 4-D"},
                                         {kTfLiteBuiltinFloorMod, {2, 5, 7, 3, 4}, {2, 5, 7, 3, 4}, nullptr}}) {
    FakeGraph g;
    const int a = g.AddTensor(kTfLiteFloat32, c.a), b = g.AddTensor(kTfLiteFloat32, c.b);
    const int out = g.AddTensor(kTfLiteFloat32, c.a);
    g.AddNode(c.code, {a, b}, {out});
    graph::Node node;
    std::string why;
    const bool imported = ImportOne(g, 0, &node, &why);
    EXPECT_EQ(imported, c.refusal == nullptr) << BuiltinName(c.code) << ": " << why;
    if (c.refusal != nullptr) EXPECT_NE(why.find(c.refusal), std::string::npos) << why;
  }
}

TEST(DelegateTest, ReadsMetadataThroughGetModelMetadata) {
  ChainGraph g;
  g.graph.SetMetadata("something_else", "xx");
  g.graph.SetMetadata(kMetadataName, std::string(37, '\x01'));
  DelegateHandle d(ChainsOnly());
  ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
  EXPECT_TRUE(d.impl->last_prepare().has_metadata);
  EXPECT_EQ(d.impl->last_prepare().metadata_bytes, 37u);
  EXPECT_EQ(d.impl->last_prepare().num_claimed, 0u);
  EXPECT_EQ(g.graph.replace_calls(), 0);
}

// Runs the claimed partition of `g` with `options` on the input 0.5, 1.0,
// ...; returns the output (empty on failure, with the error in `error`).
std::vector<float> RunClaimed(ChainGraph& g, const DelegateOptions& options, std::string* error) {
  g.graph.SetMetadata(kMetadataName, g.Metadata());
  DelegateHandle d(options);
  if (d.delegate->Prepare(g.graph.context(), d.delegate) != kTfLiteOk || g.graph.replace_calls() != 1) {
    *error = "not claimed";
    return {};
  }
  std::vector<float> input(8 * 8 * 3), output(8 * 8 * 4, -1.0f);
  for (size_t i = 0; i < input.size(); ++i) input[i] = 0.5f * static_cast<float>(i % 7);
  const int out = 7;  // the ADD's output
  g.graph.tensor(g.input).data.f = input.data();
  g.graph.tensor(out).data.f = output.data();
  if (g.graph.RunDelegateKernel(d.delegate) != kTfLiteOk) {
    *error = g.graph.errors().empty() ? "failed" : g.graph.errors().back();
    return {};
  }
  return output;
}

TEST(DelegateTest, ClaimsAValidChain) {
  for (const DelegateOptions& options : {ChainsOnly(), DelegateOptions()}) {
    ChainGraph g;
    g.graph.SetMetadata(kMetadataName, g.Metadata());
    DelegateHandle d(options);
    ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
    const PrepareSummary& s = d.impl->last_prepare();
    EXPECT_TRUE(s.refusals.empty()) << s.refusals.front();
    EXPECT_EQ(s.num_chains_listed, 1u);
    EXPECT_EQ(s.num_chains_claimed, 1u);
    EXPECT_EQ(g.graph.replaced_nodes(), std::vector<int>({0, 1, 2}));
    // Without input and output buffers, eval must refuse rather than use null.
    EXPECT_EQ(g.graph.RunDelegateKernel(d.delegate), kTfLiteError);
    EXPECT_NE(g.graph.errors().back().find("not allocated"), std::string::npos) << g.graph.errors().back();
  }
}

TEST(DelegateTest, GraphAndChainKernelsComputeTheSameChain) {
  std::string error;
  ChainGraph a, b;
  const std::vector<float> chains = RunClaimed(a, ChainsOnly(), &error);
  ASSERT_FALSE(chains.empty()) << error;
  const std::vector<float> graph = RunClaimed(b, DelegateOptions(), &error);
  ASSERT_FALSE(graph.empty()) << error;
  EXPECT_EQ(chains, graph);
  // Masked pixels hold relu(add_bias); active ones relu(27 * 0.5 * x + add_bias) > add_bias.
  for (int pixel = 0; pixel < 64; ++pixel) {
    for (int c = 0; c < 4; ++c) {
      const float v = graph[pixel * 4 + c];
      if (pixel % 3 == 0) {
        EXPECT_EQ(v, static_cast<float>(c + 1)) << pixel;
      } else {
        EXPECT_GE(v, static_cast<float>(c + 1)) << pixel;
      }
    }
  }
}

TEST(DelegateTest, GraphModeLeavesUnsupportedNodesWithAReason) {
  ChainGraph g;
  const int extra = g.graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
  g.graph.AddNode(111 /* ELU */, {7}, {extra});
  const int ints = g.graph.AddTensor(kTfLiteInt32, {1, 8, 8, 4});
  const int ints_out = g.graph.AddTensor(kTfLiteInt32, {1, 8, 8, 4});
  g.graph.AddNode(kTfLiteBuiltinRelu, {ints}, {ints_out});
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_EQ(g.graph.replaced_nodes(), std::vector<int>({0, 1, 2}));
  ASSERT_EQ(s.refusals.size(), 2u);
  EXPECT_NE(s.refusals[0].find("node 3 (ELU): op not supported"), std::string::npos) << s.refusals[0];
  EXPECT_NE(s.refusals[1].find("node 4 (RELU): output tensor 10 is int32, not float32"), std::string::npos)
      << s.refusals[1];
}

// BROADCAST_TO is claimed with a constant target shape that is the
// output's and that the input broadcasts to; otherwise it stays with the
// runtime, with the reason.
// The output's shape is read from the output tensor; the op's output-shape
// input must be a constant saying the same (else the runtime resizes it).
TEST(DelegateTest, TransposeConvNeedsAConstantOutputShapeEqualToItsOutput) {
  FakeGraph graph;
  TfLiteTransposeConvParamsPrefix params{kTfLitePaddingSame, 2, 2, kTfLiteActNone};
  auto tconv = [&](const std::vector<int32_t>& shape, bool constant) {
    const int x = graph.AddTensor(kTfLiteFloat32, {1, 3, 4, 2});
    const int target = graph.AddTensor(kTfLiteInt32, {4}, constant ? kTfLiteMmapRo : kTfLiteArenaRw);
    if (constant) graph.SetConstant(target, shape);
    const int w = graph.AddTensor(kTfLiteFloat32, {5, 4, 4, 2}, kTfLiteMmapRo);
    graph.SetConstant(w, std::vector<float>(5 * 16 * 2, 0.25f));
    const int out = graph.AddTensor(kTfLiteFloat32, {1, 6, 8, 5});
    return graph.AddNode(kTfLiteBuiltinTransposeConv, {target, w, x}, {out}, &params);
  };
  tconv({1, 6, 8, 5}, true);
  tconv({1, 6, 8, 5}, false);
  tconv({1, 6, 9, 5}, true);
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_EQ(graph.replaced_nodes(), std::vector<int>({0}));
  ASSERT_EQ(s.refusals.size(), 2u);
  EXPECT_NE(s.refusals[0].find("node 1 (TRANSPOSE_CONV): output shape is not an int32/int64 tensor known before the run"),
            std::string::npos) << s.refusals[0];
  EXPECT_NE(s.refusals[1].find("node 2 (TRANSPOSE_CONV): output shape constant differs from the output [1,6,8,5]"),
            std::string::npos) << s.refusals[1];
}

// The runtime's own MIRROR_PAD refuses padding past the input at prepare,
// so these refusals are tested here, not against the builtin kernel.
TEST(DelegateTest, MirrorPadNeedsAModeAndPaddingInsideTheInput) {
  FakeGraph graph;
  TfLiteMirrorPaddingParams reflect{kTfLiteMirrorPaddingReflect}, symmetric{kTfLiteMirrorPaddingSymmetric},
      unknown{kTfLiteMirrorPaddingUnknown};
  auto mirror = [&](int rows_before, TfLiteMirrorPaddingParams* params) {
    const int x = graph.AddTensor(kTfLiteFloat32, {1, 3, 4, 2});
    const int amounts = graph.AddTensor(kTfLiteInt32, {4, 2}, kTfLiteMmapRo);
    graph.SetConstant(amounts, std::vector<int32_t>{0, 0, rows_before, 0, 1, 1, 0, 0});
    const int out = graph.AddTensor(kTfLiteFloat32, {1, 3 + rows_before, 6, 2});
    return graph.AddNode(kTfLiteBuiltinMirrorPad, {x, amounts}, {out}, params);
  };
  mirror(2, &reflect);
  mirror(3, &symmetric);
  mirror(3, &reflect);
  mirror(4, &symmetric);
  mirror(1, &unknown);
  mirror(1, nullptr);
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_EQ(graph.replaced_nodes(), std::vector<int>({0, 1}));
  ASSERT_EQ(s.refusals.size(), 4u);
  EXPECT_NE(s.refusals[0].find("node 2 (MIRROR_PAD): mirror padding of dim 1 reaches past the input [1,3,4,2] (at "
                               "most 2)"), std::string::npos) << s.refusals[0];
  EXPECT_NE(s.refusals[1].find("node 3 (MIRROR_PAD): mirror padding of dim 1 reaches past the input [1,3,4,2] (at "
                               "most 3)"), std::string::npos) << s.refusals[1];
  EXPECT_NE(s.refusals[2].find("node 4 (MIRROR_PAD): mirror padding mode 0 is not REFLECT or SYMMETRIC"),
            std::string::npos) << s.refusals[2];
  EXPECT_NE(s.refusals[3].find("node 5 (MIRROR_PAD): no parameters"), std::string::npos) << s.refusals[3];
}

TEST(DelegateTest, BroadcastToNeedsAConstantShapeTheInputBroadcastsTo) {
  FakeGraph graph;
  const int input = graph.AddTensor(kTfLiteFloat32, {1, 1, 1, 4});
  auto broadcast = [&](const std::vector<int>& from, const std::vector<int32_t>& shape, const std::vector<int>& out,
                       bool constant_shape) {
    const int x = from == std::vector<int>{1, 1, 1, 4} ? input : graph.AddTensor(kTfLiteFloat32, from);
    const int target = graph.AddTensor(kTfLiteInt32, {static_cast<int>(shape.size())},
                                       constant_shape ? kTfLiteMmapRo : kTfLiteArenaRw);
    if (constant_shape) graph.SetConstant(target, shape);
    return graph.AddNode(kTfLiteBuiltinBroadcastTo, {x, target}, {graph.AddTensor(kTfLiteFloat32, out)});
  };
  broadcast({1, 1, 1, 4}, {2, 3, 5, 4}, {2, 3, 5, 4}, true);
  broadcast({1, 1, 1, 4}, {2, 3, 5, 4}, {2, 3, 5, 4}, false);
  broadcast({1, 2, 1, 4}, {1, 3, 5, 4}, {1, 3, 5, 4}, true);
  broadcast({1, 1, 1, 4}, {2, 3, 5, 4}, {2, 3, 6, 4}, true);
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_EQ(graph.replaced_nodes(), std::vector<int>({0}));
  ASSERT_EQ(s.refusals.size(), 3u);
  EXPECT_NE(s.refusals[0].find("node 1 (BROADCAST_TO): shape is not an int32/int64 tensor known before the run"),
            std::string::npos) << s.refusals[0];
  EXPECT_NE(s.refusals[1].find("node 2 (BROADCAST_TO): input [1,2,1,4] does not broadcast to [1,3,5,4]"),
            std::string::npos) << s.refusals[1];
  EXPECT_NE(s.refusals[2].find("node 3 (BROADCAST_TO): shape constant differs from the output [2,3,6,4]"),
            std::string::npos) << s.refusals[2];
}

struct RefusalCase {
  const char* what;
  std::function<void(ChainGraph*)> mutate;
  const char* reason;
};

TEST(DelegateTest, RefusesChainsThatDoNotMatchTheGraph) {
  const std::vector<RefusalCase> cases = {
      {"wrong conv op", [](ChainGraph* g) { g->graph.SetMetadata(kMetadataName, g->Metadata(1, 1, 2)); }, "conv_op 1 is MUL"},
      {"wrong mul op", [](ChainGraph* g) { g->graph.SetMetadata(kMetadataName, g->Metadata(0, 2, 2)); }, "mul_op 2 is ADD"},
      {"op out of plan", [](ChainGraph* g) { g->graph.SetMetadata(kMetadataName, g->Metadata(0, 1, 9)); }, "add_op 9 is not in the execution plan"},
      {"mask tensor", [](ChainGraph* g) { g->graph.SetMetadata(kMetadataName, g->Metadata(0, 1, 2, 6)); }, "metadata says 6"},
      {"mask bits", [](ChainGraph* g) { g->graph.SetMetadata(kMetadataName, g->Metadata(0, 1, 2, -1, 5)); }, "differs from the metadata at pixel 5"},
      {"mask size", [](ChainGraph* g) {
         g->graph.SetMetadata(kMetadataName, ChainGraph::EncodeOneChain("conv", 0, 1, 2, g->mask, 4, 16, g->mask_bits));
       }, "mask is 4x16 but the conv output is [1,8,8,4]"},
      {"fused conv act", [](ChainGraph* g) {
         g->conv_params.activation = kTfLiteActRelu;
         g->graph.SetMetadata(kMetadataName, g->Metadata());
       }, "fused activation"},
      {"unsupported act", [](ChainGraph* g) {
         g->add_params.activation = kTfLiteActTanh;
         g->graph.SetMetadata(kMetadataName, g->Metadata());
       }, "not supported"},
      {"extra consumer", [](ChainGraph* g) {
         const int extra = g->graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
         g->graph.AddNode(kTfLiteBuiltinAdd, {g->conv_out, g->conv_out}, {extra});
         g->graph.SetMetadata(kMetadataName, g->Metadata());
       }, "other consumers"},
      {"weights not constant", [](ChainGraph* g) {
         g->graph.tensor(g->weights).allocation_type = kTfLiteArenaRw;
         g->graph.SetMetadata(kMetadataName, g->Metadata());
       }, "weights are not a float32 constant"},
  };
  for (const RefusalCase& c : cases) {
    SCOPED_TRACE(c.what);
    ChainGraph g;
    c.mutate(&g);
    DelegateHandle d(ChainsOnly());
    ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
    const PrepareSummary& s = d.impl->last_prepare();
    EXPECT_EQ(g.graph.replace_calls(), 0);
    ASSERT_EQ(s.refusals.size(), 1u);
    EXPECT_NE(s.refusals[0].find(c.reason), std::string::npos) << s.refusals[0];
  }
}

TEST(DelegateTest, CorruptMetadataClaimsNoChain) {
  for (const DelegateOptions& options : {ChainsOnly(), DelegateOptions()}) {
    ChainGraph g;
    std::string metadata = g.Metadata();
    metadata[20] ^= 0x40;
    g.graph.SetMetadata(kMetadataName, metadata);
    DelegateHandle d(options);
    ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
    EXPECT_NE(d.impl->last_prepare().metadata_error.find("checksum"), std::string::npos);
    EXPECT_EQ(d.impl->last_prepare().num_chains_claimed, 0u);
    // claim=chains claims nothing; claim=graph runs the chain's ops dense.
    if (options.claim == DelegateOptions::Claim::kChains) {
      EXPECT_EQ(g.graph.replace_calls(), 0);
    } else {
      EXPECT_EQ(g.graph.replaced_nodes(), std::vector<int>({0, 1, 2}));
    }
  }
}

TEST(DelegateTest, ThreadCountFollowsInterpreterWhenAuto) {
  ChainGraph g;
  g.graph.context()->recommended_num_threads = 3;
  DelegateHandle automatic;
  automatic.delegate->Prepare(g.graph.context(), automatic.delegate);
  EXPECT_EQ(automatic.impl->last_prepare().num_threads, 3);
  DelegateOptions two;
  two.num_threads = 2;
  DelegateHandle fixed(two);
  fixed.delegate->Prepare(g.graph.context(), fixed.delegate);
  EXPECT_EQ(fixed.impl->last_prepare().num_threads, 2);
}

TEST(DelegateTest, InconsistentTensorBytesFailTheAbiCheck) {
  ChainGraph g;
  g.graph.SetMetadata(kMetadataName, "x");
  g.graph.tensor(g.weights).bytes = 12;  // dims say 4*3*3*3 floats
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
  const PrepareSummary& s = d.impl->last_prepare();
  EXPECT_FALSE(s.abi_ok);
  EXPECT_NE(s.abi_error.find("tensor 1"), std::string::npos) << s.abi_error;
  EXPECT_NE(s.abi_error.find("CONV_2D"), std::string::npos) << s.abi_error;
  EXPECT_EQ(g.graph.replace_calls(), 0);
}

TEST(DelegateTest, GarbageTensorFieldsFailTheAbiCheck) {
  {
    ChainGraph g;
    g.graph.tensor(g.input).type = 991;
    DelegateHandle d;
    d.delegate->Prepare(g.graph.context(), d.delegate);
    EXPECT_FALSE(d.impl->last_prepare().abi_ok);
  }
  {
    ChainGraph g;
    g.graph.tensor(g.conv_out).dims = nullptr;
    DelegateHandle d;
    d.delegate->Prepare(g.graph.context(), d.delegate);
    EXPECT_FALSE(d.impl->last_prepare().abi_ok);
    EXPECT_NE(d.impl->last_prepare().abi_error.find("no dims"), std::string::npos);
  }
}

TEST(AbiCheckTest, ContextChecks) {
  ChainGraph g;
  std::string why;
  EXPECT_TRUE(CheckContextAbi(g.graph.context(), &why)) << why;
  EXPECT_FALSE(CheckContextAbi(nullptr, &why));
  TfLiteContext broken = *g.graph.context();
  broken.tensors_size = size_t{1} << 40;
  EXPECT_FALSE(CheckContextAbi(&broken, &why));
  broken = *g.graph.context();
  broken.GetNodeAndRegistration = nullptr;
  EXPECT_FALSE(CheckContextAbi(&broken, &why));
  broken = *g.graph.context();
  broken.recommended_num_threads = 123456;
  EXPECT_FALSE(CheckContextAbi(&broken, &why));
}

TEST(AbiCheckTest, NodeWithOutOfRangeTensorIsRejected) {
  FakeGraph graph;
  const int t = graph.AddTensor(kTfLiteFloat32, {1, 2, 2, 1});
  graph.AddNode(kTfLiteBuiltinAdd, {t, 42}, {t});
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(graph.context(), d.delegate), kTfLiteOk);
  EXPECT_EQ(graph.replace_calls(), 0);
  TfLiteNode* node = nullptr;
  TfLiteRegistration* reg = nullptr;
  graph.context()->GetNodeAndRegistration(graph.context(), 0, &node, &reg);
  std::string why;
  EXPECT_FALSE(CheckNodeAbi(graph.context(), 0, node, reg, &why));
  EXPECT_NE(why.find("tensor 42"), std::string::npos) << why;
}

// A delegate that claims every MUL, to exercise the hand-over to the runtime
// and the kernel callbacks the glue registers.
class ClaimMulDelegate : public DelegateInterface {
 public:
  struct Counters {
    int init = 0, prepare = 0, eval = 0, destroyed = 0, nodes_in_partition = 0;
  };
  explicit ClaimMulDelegate(Counters* counters) : counters_(counters) {}
  const char* Name() const override { return "claim_mul"; }
  const Logger& logger() const override { return logger_; }
  bool BeginPrepare(TfLiteContext*, const std::vector<NodeInfo>&, std::string*) override {
    return true;
  }
  bool IsNodeSupported(TfLiteContext*, const NodeInfo& node, std::string*) override {
    return node.registration->builtin_code == kTfLiteBuiltinMul;
  }
  void EndPrepare(TfLiteContext*, const std::vector<NodeInfo>&, const std::vector<int>&) override {}
  std::unique_ptr<DelegateKernel> CreateKernel() override {
    return std::make_unique<Kernel>(counters_);
  }

 private:
  class Kernel : public DelegateKernel {
   public:
    explicit Kernel(Counters* c) : c_(c) {}
    ~Kernel() override { c_->destroyed++; }
    TfLiteStatus Init(TfLiteContext*, const TfLiteDelegateParams* params) override {
      c_->init++;
      c_->nodes_in_partition = params->nodes_to_replace->size;
      return kTfLiteOk;
    }
    TfLiteStatus Prepare(TfLiteContext*, TfLiteNode*) override {
      c_->prepare++;
      return kTfLiteOk;
    }
    TfLiteStatus Eval(TfLiteContext*, TfLiteNode*) override {
      c_->eval++;
      return kTfLiteOk;
    }

   private:
    Counters* c_;
  };
  Counters* counters_;
  Logger logger_;
};

TEST(SimpleDelegateTest, HandsClaimedNodesAndAZeroTailedRegistrationToTheRuntime) {
  ChainGraph g;
  ClaimMulDelegate::Counters counters;
  TfLiteDelegate* delegate = CreateTfLiteDelegate(std::make_unique<ClaimMulDelegate>(&counters));
  ASSERT_EQ(delegate->Prepare(g.graph.context(), delegate), kTfLiteOk);
  ASSERT_EQ(g.graph.replace_calls(), 1);
  EXPECT_EQ(g.graph.replaced_nodes(), std::vector<int>({1}));
  const TfLiteRegistration& reg = g.graph.replaced_registration();
  EXPECT_EQ(reg.builtin_code, kTfLiteBuiltinCustom);
  EXPECT_STREQ(reg.custom_name, "claim_mul");
  EXPECT_EQ(reg.registration_external, nullptr);
  EXPECT_EQ(reg.async_kernel, nullptr);
  EXPECT_EQ(reg.inplace_operator, 0u);

  ASSERT_EQ(g.graph.RunDelegateKernel(delegate), kTfLiteOk);
  EXPECT_EQ(counters.init, 1);
  EXPECT_EQ(counters.nodes_in_partition, 1);
  EXPECT_EQ(counters.prepare, 1);
  EXPECT_EQ(counters.eval, 1);
  EXPECT_EQ(counters.destroyed, 1);
  DestroyTfLiteDelegate(delegate);
}

TEST(SimpleDelegateTest, ForeignDelegateIsNotReinterpreted) {
  TfLiteDelegate foreign{};
  int not_ours = 7;
  foreign.data_ = &not_ours;
  EXPECT_EQ(GetDelegateInterface(&foreign), nullptr);
  EXPECT_EQ(GetDelegateInterface(nullptr), nullptr);
  DestroyTfLiteDelegate(nullptr);  // no-op
}

TEST(SimpleDelegateTest, ActsparseKernelFactoryRefusesSafely) {
  // A kernel requested from a delegate that never prepared (claimed nothing)
  // fails init and then prepare with an error, not a crash.
  ChainGraph g;
  DelegateHandle d;
  TfLiteDelegateParams params{};
  params.delegate = d.delegate;
  ClaimMulDelegate::Counters unused;
  TfLiteDelegate* claimer = CreateTfLiteDelegate(std::make_unique<ClaimMulDelegate>(&unused));
  claimer->Prepare(g.graph.context(), claimer);
  const TfLiteRegistration reg = g.graph.replaced_registration();
  void* kernel = reg.init(g.graph.context(), reinterpret_cast<const char*>(&params), 0);
  EXPECT_EQ(kernel, nullptr);
  TfLiteNode node{};
  EXPECT_EQ(reg.prepare(g.graph.context(), &node), kTfLiteError);
  EXPECT_FALSE(g.graph.errors().empty());
  DestroyTfLiteDelegate(claimer);
}

}  // namespace
}  // namespace actsparse
