#include "delegate/tflite/testing/fake_context.h"

#include <cstdarg>
#include <cstdio>
#include <set>

#include "delegate/tflite/abi_check.h"

namespace actsparse {
namespace testing {

FakeGraph::FakeGraph() {
  context_.impl_ = this;
  context_.GetExecutionPlan = &FakeGraph::GetExecutionPlan;
  context_.GetNodeAndRegistration = &FakeGraph::GetNodeAndRegistration;
  context_.ReplaceNodeSubsetsWithDelegateKernels = &FakeGraph::ReplaceNodeSubsets;
  context_.GetModelMetadata = &FakeGraph::GetModelMetadata;
  context_.ReportError = &FakeGraph::ReportError;
  context_.recommended_num_threads = -1;
  plan_ = NewIntArray({});
}

FakeGraph::~FakeGraph() = default;

TfLiteIntArray* FakeGraph::NewIntArray(const std::vector<int>& values) {
  std::vector<int> storage;
  storage.push_back(static_cast<int>(values.size()));
  storage.insert(storage.end(), values.begin(), values.end());
  int_arrays_.push_back(std::move(storage));
  return reinterpret_cast<TfLiteIntArray*>(int_arrays_.back().data());
}

int FakeGraph::AddTensor(TfLiteType type, const std::vector<int>& dims,
                         TfLiteAllocationType allocation) {
  TfLiteTensor tensor{};
  tensor.type = type;
  tensor.dims = NewIntArray(dims);
  tensor.allocation_type = allocation;
  size_t elements = 1;
  for (int d : dims) elements *= static_cast<size_t>(d);
  tensor.bytes = elements * TfLiteTypeSize(type);
  tensors_.push_back(tensor);
  context_.tensors = tensors_.data();
  context_.tensors_size = tensors_.size();
  return static_cast<int>(tensors_.size()) - 1;
}

int FakeGraph::AddNode(int32_t builtin_code, const std::vector<int>& inputs,
                       const std::vector<int>& outputs, void* builtin_data) {
  TfLiteNode node{};
  node.inputs = NewIntArray(inputs);
  node.outputs = NewIntArray(outputs);
  node.intermediates = NewIntArray({});
  node.temporaries = NewIntArray({});
  node.builtin_data = builtin_data;
  nodes_.push_back(node);
  TfLiteRegistration registration{};
  registration.builtin_code = builtin_code;
  registration.version = 1;
  registrations_.push_back(registration);
  std::vector<int> plan;
  for (size_t i = 0; i < nodes_.size(); ++i) plan.push_back(static_cast<int>(i));
  plan_ = NewIntArray(plan);
  return static_cast<int>(nodes_.size()) - 1;
}

void FakeGraph::SetConstant(int tensor, const std::vector<float>& values) {
  float_data_.push_back(values);
  tensors_[static_cast<size_t>(tensor)].data.f = float_data_.back().data();
  tensors_[static_cast<size_t>(tensor)].allocation_type = kTfLiteMmapRo;
}

void FakeGraph::SetConstant(int tensor, const std::vector<int32_t>& values) {
  int_data_.push_back(values);
  tensors_[static_cast<size_t>(tensor)].data.i32 = int_data_.back().data();
  tensors_[static_cast<size_t>(tensor)].allocation_type = kTfLiteMmapRo;
}

void FakeGraph::SetConstant(int tensor, const std::vector<int64_t>& values) {
  int64_data_.push_back(values);
  tensors_[static_cast<size_t>(tensor)].data.i64 = int64_data_.back().data();
  tensors_[static_cast<size_t>(tensor)].allocation_type = kTfLiteMmapRo;
}

void FakeGraph::SetModelSubgraphs(const std::vector<FakeGraph*>& model) {
  model_ = model;
  context_.AcquireSubgraphContext = &FakeGraph::AcquireSubgraph;
  context_.ReleaseSubgraphContext = &FakeGraph::ReleaseSubgraph;
}

TfLiteStatus FakeGraph::AcquireSubgraph(TfLiteContext* context, int index, TfLiteContext** acquired) {
  FakeGraph* self = Self(context);
  if (index < 0 || static_cast<size_t>(index) >= self->model_.size()) return kTfLiteError;
  *acquired = self->model_[static_cast<size_t>(index)]->context();
  self->acquired_.insert(index);
  return kTfLiteOk;
}

TfLiteStatus FakeGraph::ReleaseSubgraph(TfLiteContext* context, int index) {
  return Self(context)->acquired_.erase(index) == 1 ? kTfLiteOk : kTfLiteError;
}

void FakeGraph::SetMetadata(const std::string& name, const std::string& bytes) {
  metadata_[name] = bytes;
}

FakeGraph* FakeGraph::Self(const TfLiteContext* context) {
  return static_cast<FakeGraph*>(context->impl_);
}

TfLiteStatus FakeGraph::GetExecutionPlan(TfLiteContext* context, TfLiteIntArray** plan) {
  *plan = Self(context)->plan_;
  return kTfLiteOk;
}

TfLiteStatus FakeGraph::GetNodeAndRegistration(TfLiteContext* context, int index,
                                               TfLiteNode** node, TfLiteRegistration** reg) {
  FakeGraph* self = Self(context);
  if (index < 0 || static_cast<size_t>(index) >= self->nodes_.size()) return kTfLiteError;
  *node = &self->nodes_[static_cast<size_t>(index)];
  *reg = &self->registrations_[static_cast<size_t>(index)];
  return kTfLiteOk;
}

TfLiteStatus FakeGraph::ReplaceNodeSubsets(TfLiteContext* context,
                                           TfLiteRegistration registration,
                                           const TfLiteIntArray* nodes,
                                           TfLiteDelegate* /*delegate*/) {
  FakeGraph* self = Self(context);
  self->replace_calls_ += 1;
  self->replaced_registration_ = registration;
  self->replaced_nodes_.assign(nodes->data, nodes->data + nodes->size);
  return kTfLiteOk;
}

TfLiteStatus FakeGraph::GetModelMetadata(const TfLiteContext* context, const char* name,
                                         const char** ptr, size_t* bytes) {
  FakeGraph* self = Self(context);
  auto it = self->metadata_.find(name);
  if (it == self->metadata_.end()) return kTfLiteError;
  *ptr = it->second.data();
  *bytes = it->second.size();
  return kTfLiteOk;
}

void FakeGraph::ReportError(TfLiteContext* context, const char* format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  Self(context)->errors_.push_back(buffer);
}

TfLiteStatus FakeGraph::RunDelegateKernel(TfLiteDelegate* delegate) {
  TfLiteDelegateParams params{};
  params.delegate = delegate;
  params.nodes_to_replace = NewIntArray(replaced_nodes_);
  // As the runtime does: the partition's inputs are what its nodes read and
  // do not write; its outputs what they write and nodes outside read, or
  // nobody reads (the model's outputs).
  std::set<int> replaced(replaced_nodes_.begin(), replaced_nodes_.end()), written, read_inside, read_outside;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    const TfLiteNode& node = nodes_[n];
    for (int i = 0; i < node.inputs->size; ++i) {
      if (node.inputs->data[i] >= 0) (replaced.count(static_cast<int>(n)) ? read_inside : read_outside).insert(node.inputs->data[i]);
    }
    if (replaced.count(static_cast<int>(n))) {
      for (int i = 0; i < node.outputs->size; ++i) written.insert(node.outputs->data[i]);
    }
  }
  std::vector<int> inputs, outputs;
  for (int t : read_inside) {
    if (!written.count(t)) inputs.push_back(t);
  }
  for (int t : written) {
    if (read_outside.count(t) || !read_inside.count(t)) outputs.push_back(t);
  }
  params.input_tensors = NewIntArray(inputs);
  params.output_tensors = NewIntArray(outputs);
  TfLiteNode node{};
  node.inputs = params.input_tensors;
  node.outputs = params.output_tensors;
  node.delegate = delegate;
  const TfLiteRegistration& reg = replaced_registration_;
  node.user_data = reg.init(&context_, reinterpret_cast<const char*>(&params), 0);
  TfLiteStatus status = reg.prepare(&context_, &node);
  if (status == kTfLiteOk) status = reg.invoke(&context_, &node);
  if (node.user_data != nullptr) reg.free(&context_, node.user_data);
  return status;
}

}  // namespace testing
}  // namespace actsparse
