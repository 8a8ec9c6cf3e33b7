// A partition's plan: the graph after fusion, one operator per remaining
// node (weights packed, loops planned), and one arena for every tensor that
// lives only inside the partition, laid out by lifetime. Run() executes the
// steps back to back on one thread pool, holding its workers between steps.
// Knows nothing of the TFLite ABI.
#ifndef ACTSPARSE_DELEGATE_GRAPH_PLAN_H_
#define ACTSPARSE_DELEGATE_GRAPH_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delegate/graph/graph.h"
#include "delegate/graph/run_mode.h"
#include "delegate/operator/pooling.h"
#include "delegate/operator/shape.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {
namespace graph {

struct PlanOptions {
  bool fuse = true;     // false: every node runs as its own step (for comparisons and tests)
  int num_threads = 1;  // of the pool the plan will run on (banding depends on it)
  // Inverted residuals are banded from this size of their first intermediate
  // tensor; 0: by num_threads (kMinBandedBytes / kMinBandedBytesThreaded, fusion.h).
  size_t min_banded_bytes = 0;
  // With a pool of several threads, whether a run uses its workers: kAuto
  // as RunModeChooser finds faster (run_mode.h); kAlways / kNever force it
  // (tests; the bits are the same either way).
  enum class Workers { kAuto, kAlways, kNever };
  Workers workers = Workers::kAuto;
};

// What each step is, for logs and the delegate's `profile` option.
struct StepInfo {
  std::string label;   // the node's label (after fusion: the node it ran as)
  std::string output;  // its output shape, "HxWxC" (last three dims)
  float sparsity = 0;  // masked conv: fraction of masked pixels
};

// Called after each step with its index and wall time, when timing is asked for.
using StepTimer = std::function<void(size_t step, uint64_t nanoseconds)>;

class Step;

// A pool node's operator parameters (`in` and `out` NHWC): the plan's, and
// what the importer checks a StableHLO window against.
Pool2DParams PoolParams(const Node& node, const Shape& in, const Shape& out);

class PartitionPlan {
 public:
  ~PartitionPlan();
  // Takes the graph; fails (null, `error` naming the node) when a node cannot be planned.
  static std::unique_ptr<PartitionPlan> Create(Graph graph, const PlanOptions& options, std::string* error);

  // `pointers[t]` for every external tensor t (others are ignored). Returns
  // false (with `error`) when a pointer the plan needs is null. `timer`
  // (may be null) is called after every step.
  bool Run(const std::vector<float*>& pointers, ThreadPool* pool, std::string* error,
           const StepTimer* timer = nullptr);

  const Graph& graph() const { return graph_; }  // after fusion
  size_t num_steps() const { return steps_.size(); }
  size_t arena_bytes() const { return arena_.size() * sizeof(float); }
  // Floats from the arena's start to internal tensor t; SIZE_MAX for a
  // tensor that is not in the arena (external, constant).
  size_t arena_offset(int tensor) const { return arena_offset_[tensor]; }
  // One line per fusion done: "ADD#7 into layer1.0.conv2 (residual)".
  const std::vector<std::string>& fusions() const { return fusions_; }

  const std::vector<StepInfo>& steps() const { return step_info_; }
  // Runs so far that used the pool's workers, and that ran on the caller
  // alone (a pool of several threads only; see PlanOptions::workers).
  uint64_t runs_with_workers() const { return runs_with_workers_; }
  uint64_t runs_on_caller() const { return runs_on_caller_; }

 private:
  PartitionPlan() = default;
  Graph graph_;
  std::vector<std::string> fusions_;
  std::vector<std::unique_ptr<Step>> steps_;
  AlignedFloats arena_;
  // Floats into the arena of each internal tensor; SIZE_MAX for external and constant tensors.
  std::vector<size_t> arena_offset_;
  std::vector<float*> bound_;  // pointer of every tensor for the current run
  std::vector<StepInfo> step_info_;
  PlanOptions::Workers workers_ = PlanOptions::Workers::kAuto;
  RunModeChooser run_mode_;
  uint64_t runs_with_workers_ = 0, runs_on_caller_ = 0;
};

}  // namespace graph
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_GRAPH_PLAN_H_
