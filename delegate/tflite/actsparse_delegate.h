// The actsparse delegate: a node filter plus a kernel factory.
//
// claim=graph (default): the node filter claims every node the graph layer
// can compute (ImportNode), and the masked chains listed in the model's
// "actsparse.masks" metadata that validate against the graph (ValidateChain)
// as one sparse conv each; the kernel factory makes one GraphKernel per
// partition. claim=chains: only the validated chains are claimed, and each
// partition is a ChainKernel (the behaviour before whole-graph claiming).
#ifndef ACTSPARSE_DELEGATE_TFLITE_ACTSPARSE_DELEGATE_H_
#define ACTSPARSE_DELEGATE_TFLITE_ACTSPARSE_DELEGATE_H_

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "delegate/common/log.h"
#include "delegate/common/options.h"
#include "delegate/operator/thread_pool.h"
#include "delegate/tflite/chain.h"
#include "delegate/tflite/constant_fold.h"
#include "delegate/tflite/simple_delegate.h"

namespace actsparse {

// What the last delegate Prepare saw and decided; for logs and tests.
struct PrepareSummary {
  bool abi_ok = false;
  std::string abi_error;
  bool has_metadata = false;
  size_t metadata_bytes = 0;
  size_t num_nodes = 0;
  std::map<std::string, int> op_counts;  // "CONV_2D" -> 20, ...
  size_t num_claimed = 0;
  size_t num_chains_listed = 0;
  size_t num_chains_claimed = 0;
  std::string metadata_error;  // why the metadata could not be parsed
  std::vector<std::string> refusals;  // "layer: reason" per chain, "node N (OP): reason" per node not claimed
  int num_threads = 1;
};

class ActsparseDelegate : public DelegateInterface {
 public:
  explicit ActsparseDelegate(const DelegateOptions& options);
  // Prints the chain profile (option `profile`) to stderr.
  ~ActsparseDelegate() override;

  const char* Name() const override { return "actsparse"; }
  const Logger& logger() const override { return logger_; }
  const DelegateOptions& options() const { return options_; }
  const PrepareSummary& last_prepare() const { return summary_; }

  bool BeginPrepare(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                    std::string* why) override;
  bool IsNodeSupported(TfLiteContext* context, const NodeInfo& node,
                       std::string* reason) override;
  void EndPrepare(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                  const std::vector<int>& claimed) override;
  std::unique_ptr<DelegateKernel> CreateKernel() override;

 private:
  // Parses the metadata (if any) and validates its chains against the graph:
  // fills claimed_nodes_, chains_by_node_ and the summary.
  void ValidateChains(TfLiteContext* context, const std::vector<NodeInfo>& plan, const char* metadata);

  DelegateOptions options_;
  Logger logger_;
  PrepareSummary summary_;
  std::set<int> claimed_nodes_;  // nodes of validated chains
  // Validated chains of the last Prepare, by each of their node indices; the
  // kernels of that Prepare share it.
  std::shared_ptr<ChainKernel::ChainsByNode> chains_by_node_;
  // The int / bool tensors of the last Prepare computed from constants
  // alone (claim=graph); the importer and the kernels read them.
  std::shared_ptr<FoldedTensors> folded_;
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<ChainProfile> profile_;  // null unless options_.profile
};

// Reads the Model.metadata entry `name` through context->GetModelMetadata.
// Returns false when the runtime has no such entry (or no GetModelMetadata).
bool ReadModelMetadata(const TfLiteContext* context, const char* name, const char** data,
                       size_t* bytes);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_ACTSPARSE_DELEGATE_H_
