// Validating a metadata chain against the live graph, and the delegate
// kernel that runs validated chains.
#ifndef ACTSPARSE_DELEGATE_TFLITE_CHAIN_H_
#define ACTSPARSE_DELEGATE_TFLITE_CHAIN_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "delegate/abi/tflite_abi.h"
#include "delegate/format/mask_format.h"
#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/thread_pool.h"
#include "delegate/tflite/chain_profile.h"
#include "delegate/tflite/simple_delegate.h"

namespace actsparse {

// A chain that passed every check, with what the kernel needs to run it.
struct ChainPlan {
  MaskedChain meta;
  std::vector<int> nodes;      // [pad], conv, mul, [add] node indices
  int input_tensor = -1;       // PAD input, or the conv input
  int output_tensor = -1;      // ADD output, or the MUL output
  std::vector<int> internal_tensors;  // PAD output, conv output, MUL output (when an ADD follows)
  SparseConvParams params;
  // Constants of the model (valid for the interpreter's lifetime; copied and
  // packed by the operator in kernel Init).
  const float* weights = nullptr;
  const float* conv_bias = nullptr;
  const float* add_bias = nullptr;
};

// Tensor index -> number of nodes of the execution plan that read it.
std::map<int, int> CountConsumers(const std::vector<NodeInfo>& plan);

// Checks `chain` against the graph. On success fills `plan` and returns true;
// otherwise sets `why` (one line naming the op or tensor) and returns false.
bool ValidateChain(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                   const std::map<int, int>& consumers, const MaskedChain& chain,
                   ChainPlan* out, std::string* why);

// Runs the chains of one partition. Chains whose output feeds the next chain
// inside the partition write to buffers the kernel owns (the runtime does not
// allocate tensors internal to a partition).
class ChainKernel : public DelegateKernel {
 public:
  using ChainsByNode = std::map<int, std::shared_ptr<const ChainPlan>>;

  // `profile` (may be null): where each chain's wall time is added.
  ChainKernel(std::shared_ptr<const ChainsByNode> chains_by_node,
              std::shared_ptr<ThreadPool> pool, std::shared_ptr<ChainProfile> profile = nullptr)
      : chains_by_node_(std::move(chains_by_node)), pool_(std::move(pool)), profile_(std::move(profile)) {}

  TfLiteStatus Init(TfLiteContext* context, const TfLiteDelegateParams* params) override;
  TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) override;
  TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) override;

 private:
  struct Step {
    const ChainPlan* plan;
    std::unique_ptr<SparseConvOperator> op;
    int input_buffer = -1;   // index into buffers_, or -1: the runtime tensor
    int output_buffer = -1;
    ChainProfile::Entry* profile = nullptr;
  };
  std::shared_ptr<const ChainsByNode> chains_by_node_;
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<ChainProfile> profile_;
  std::vector<Step> steps_;
  std::vector<AlignedFloats> buffers_;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_CHAIN_H_
