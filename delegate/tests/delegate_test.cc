// The delegate glue against a fake interpreter: ABI checks, metadata reading,
// the node filter, and the registration handed to the runtime.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "delegate/format/metadata_name.h"
#include "delegate/tflite/abi_check.h"
#include "delegate/tflite/actsparse_delegate.h"
#include "delegate/tflite/simple_delegate.h"
#include "delegate/tflite/testing/fake_context.h"

namespace actsparse {
namespace {

using testing::FakeGraph;

// input -> CONV_2D -> MUL(mask) -> ADD(bias): the shape a masked conv takes.
struct ChainGraph {
  FakeGraph graph;
  TfLiteConvParamsPrefix conv_params{kTfLitePaddingSame, 1, 1, kTfLiteActNone, 1, 1};
  int input, weights, conv_out;
  ChainGraph() {
    input = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 3});
    weights = graph.AddTensor(kTfLiteFloat32, {4, 3, 3, 3}, kTfLiteMmapRo);
    const int bias = graph.AddTensor(kTfLiteFloat32, {4}, kTfLiteMmapRo);
    conv_out = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
    const int mask = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 1}, kTfLiteMmapRo);
    const int mul_out = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
    const int add_bias = graph.AddTensor(kTfLiteFloat32, {1, 1, 1, 4}, kTfLiteMmapRo);
    const int out = graph.AddTensor(kTfLiteFloat32, {1, 8, 8, 4});
    graph.AddNode(kTfLiteBuiltinConv2d, {input, weights, bias}, {conv_out}, &conv_params);
    graph.AddNode(kTfLiteBuiltinMul, {conv_out, mask}, {mul_out});
    graph.AddNode(kTfLiteBuiltinAdd, {mul_out, add_bias}, {out});
  }
};

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

TEST(DelegateTest, NoMetadataClaimsNothing) {
  ChainGraph g;
  DelegateHandle d;
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

TEST(DelegateTest, ReadsMetadataThroughGetModelMetadata) {
  ChainGraph g;
  g.graph.SetMetadata("something_else", "xx");
  g.graph.SetMetadata(kMetadataName, std::string(37, '\x01'));
  DelegateHandle d;
  ASSERT_EQ(d.delegate->Prepare(g.graph.context(), d.delegate), kTfLiteOk);
  EXPECT_TRUE(d.impl->last_prepare().has_metadata);
  EXPECT_EQ(d.impl->last_prepare().metadata_bytes, 37u);
  EXPECT_EQ(d.impl->last_prepare().num_claimed, 0u);
  EXPECT_EQ(g.graph.replace_calls(), 0);
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
  // A runtime that asks for a kernel the delegate never claimed gets an error
  // from prepare, not a crash.
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
