// A minimal in-memory stand-in for a TFLite interpreter, for unit tests of the
// delegate glue: tensors, nodes, an execution plan, model metadata, and a
// ReplaceNodeSubsetsWithDelegateKernels that records what was claimed and can
// drive the resulting delegate kernel through init/prepare/invoke/free.
#ifndef ACTSPARSE_DELEGATE_TFLITE_TESTING_FAKE_CONTEXT_H_
#define ACTSPARSE_DELEGATE_TFLITE_TESTING_FAKE_CONTEXT_H_

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "delegate/abi/tflite_abi.h"

namespace actsparse {
namespace testing {

class FakeGraph {
 public:
  FakeGraph();
  FakeGraph(const FakeGraph&) = delete;
  FakeGraph& operator=(const FakeGraph&) = delete;
  ~FakeGraph();

  int AddTensor(TfLiteType type, const std::vector<int>& dims,
                TfLiteAllocationType allocation = kTfLiteArenaRw);
  int AddNode(int32_t builtin_code, const std::vector<int>& inputs,
              const std::vector<int>& outputs, void* builtin_data = nullptr);
  void SetMetadata(const std::string& name, const std::string& bytes);
  // Makes `tensor` a constant (kTfLiteMmapRo) holding `values`.
  void SetConstant(int tensor, const std::vector<float>& values);
  void SetConstant(int tensor, const std::vector<int32_t>& values);
  void SetConstant(int tensor, const std::vector<int64_t>& values);

  // Makes the graphs of `model` (index order, this one among them) the
  // subgraphs of one model, reachable through AcquireSubgraphContext.
  void SetModelSubgraphs(const std::vector<FakeGraph*>& model);
  // Subgraphs acquired through this graph and not released.
  int unreleased_subgraphs() const { return static_cast<int>(acquired_.size()); }

  TfLiteContext* context() { return &context_; }
  TfLiteTensor& tensor(int index) { return tensors_[static_cast<size_t>(index)]; }
  TfLiteRegistration& registration(int node_index) {
    return registrations_[static_cast<size_t>(node_index)];
  }

  // What the delegate handed to ReplaceNodeSubsetsWithDelegateKernels.
  int replace_calls() const { return replace_calls_; }
  const std::vector<int>& replaced_nodes() const { return replaced_nodes_; }
  const TfLiteRegistration& replaced_registration() const { return replaced_registration_; }
  const std::vector<std::string>& errors() const { return errors_; }

  // Runs the registration handed over by the delegate as a runtime would:
  // init with TfLiteDelegateParams, prepare, invoke, free. Returns the first
  // non-OK status (or kTfLiteError if init returned null).
  TfLiteStatus RunDelegateKernel(TfLiteDelegate* delegate);

 private:
  static TfLiteStatus GetExecutionPlan(TfLiteContext* context, TfLiteIntArray** plan);
  static TfLiteStatus GetNodeAndRegistration(TfLiteContext* context, int index,
                                             TfLiteNode** node, TfLiteRegistration** reg);
  static TfLiteStatus ReplaceNodeSubsets(TfLiteContext* context, TfLiteRegistration registration,
                                         const TfLiteIntArray* nodes, TfLiteDelegate* delegate);
  static TfLiteStatus GetModelMetadata(const TfLiteContext* context, const char* name,
                                       const char** ptr, size_t* bytes);
  static TfLiteStatus AcquireSubgraph(TfLiteContext* context, int index, TfLiteContext** acquired);
  static TfLiteStatus ReleaseSubgraph(TfLiteContext* context, int index);
  static void ReportError(TfLiteContext* context, const char* format, ...);
  static FakeGraph* Self(const TfLiteContext* context);
  TfLiteIntArray* NewIntArray(const std::vector<int>& values);

  TfLiteContext context_{};
  // context_.tensors points into this vector; re-pointed after each add, as
  // the runtime does when it grows its tensor array.
  std::vector<TfLiteTensor> tensors_;
  std::deque<TfLiteNode> nodes_;
  std::deque<TfLiteRegistration> registrations_;
  std::deque<std::vector<int>> int_arrays_;
  std::deque<std::vector<float>> float_data_;
  std::deque<std::vector<int32_t>> int_data_;
  std::deque<std::vector<int64_t>> int64_data_;
  std::map<std::string, std::string> metadata_;
  TfLiteIntArray* plan_ = nullptr;
  int replace_calls_ = 0;
  std::vector<int> replaced_nodes_;
  TfLiteRegistration replaced_registration_{};
  std::vector<std::string> errors_;
  std::vector<FakeGraph*> model_;
  std::set<int> acquired_;
};

}  // namespace testing
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_TESTING_FAKE_CONTEXT_H_
