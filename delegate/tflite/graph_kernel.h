// The kernel factory's product with claim=graph: one PartitionPlan per
// partition the runtime hands back. Init reads the partition's nodes
// (ImportNode; masked chains as one conv each) into a graph::Graph, binds the
// partition's inputs and outputs as external tensors and plans it; Eval
// binds the runtime's buffers and runs the plan. float32 and int32 tensors
// at the partition's edge are bound as they are; bool and int64 ones pass
// through buffers in the graph layer's form (graph::DataType).
#ifndef ACTSPARSE_DELEGATE_TFLITE_GRAPH_KERNEL_H_
#define ACTSPARSE_DELEGATE_TFLITE_GRAPH_KERNEL_H_

#include <memory>
#include <utility>
#include <vector>

#include "delegate/common/log.h"
#include "delegate/graph/plan.h"
#include "delegate/operator/thread_pool.h"
#include "delegate/tflite/chain.h"
#include "delegate/tflite/chain_profile.h"
#include "delegate/tflite/constant_fold.h"
#include "delegate/tflite/simple_delegate.h"

namespace actsparse {

class GraphKernel : public DelegateKernel {
 public:
  // `chains_by_node`: validated masked chains (may be empty); `profile` may be null.
  GraphKernel(std::shared_ptr<const ChainKernel::ChainsByNode> chains_by_node,
              std::shared_ptr<const FoldedTensors> folded, std::shared_ptr<ThreadPool> pool,
              std::shared_ptr<ChainProfile> profile, const Logger& logger, bool fuse)
      : chains_by_node_(std::move(chains_by_node)),
        folded_(std::move(folded)),
        pool_(std::move(pool)),
        profile_(std::move(profile)),
        logger_(logger),
        fuse_(fuse) {}
  // Logs (info) how many runs went on the caller alone, if any (see graph/run_mode.h).
  ~GraphKernel() override;

  TfLiteStatus Init(TfLiteContext* context, const TfLiteDelegateParams* params) override;
  TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) override;
  TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) override;

 private:
  std::shared_ptr<const ChainKernel::ChainsByNode> chains_by_node_;
  std::shared_ptr<const FoldedTensors> folded_;
  std::shared_ptr<ThreadPool> pool_;
  std::shared_ptr<ChainProfile> profile_;
  Logger logger_;
  bool fuse_;
  std::unique_ptr<graph::PartitionPlan> plan_;
  std::vector<std::pair<int, int>> externals_;  // (graph tensor, runtime tensor)
  std::vector<float*> pointers_;                // by graph tensor id
  // A bool or int64 tensor the partition reads or writes (a comparison's
  // output, a SELECT's condition, an ARG_MAX's indices): the plan sees it
  // as the graph layer holds it (bools 1.0 / 0.0, ints as int32 bits) in
  // `floats`, converted from the runtime's values before the run (an int64
  // beyond int32 fails it) or to them after it.
  struct ConvertedExternal {
    int graph_tensor, runtime_tensor;
    bool output;
    std::vector<float> floats;
  };
  std::vector<ConvertedExternal> converted_externals_;
  // Int / bool tensors known before the run that a node reads (a SELECT's
  // constant condition, an index grid), as the partition holds them, owned here.
  std::vector<std::vector<float>> known_;
  // Partition outputs computed from constants alone (folded nodes the
  // runtime's nodes read): written at every Eval.
  std::vector<int> folded_outputs_;
  std::vector<ChainProfile::Entry*> step_profiles_;
  graph::StepTimer timer_;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_GRAPH_KERNEL_H_
