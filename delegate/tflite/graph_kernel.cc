#include "delegate/tflite/graph_kernel.h"

#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "delegate/tflite/graph_import.h"

namespace actsparse {
namespace {

Shape Dims(const TfLiteTensor& t) { return Shape(t.dims->data, t.dims->data + t.dims->size); }

// Values known before the run as the partition holds them (graph::DataType):
// bools as 1.0 / 0.0, ints as int32 bits (int64 ones fit: the importer
// checks).
void EncodeValues(const std::vector<int64_t>& values, graph::DataType type, float* out) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (type == graph::DataType::kInt32) {
      const int32_t bits = static_cast<int32_t>(values[i]);
      std::memcpy(out + i, &bits, sizeof(bits));
    } else {
      out[i] = static_cast<float>(values[i]);
    }
  }
}

TfLiteStatus Error(TfLiteContext* context, const std::string& message) {
  context->ReportError(context, "%s", ("actsparse: " + message).c_str());
  return kTfLiteError;
}

}  // namespace

TfLiteStatus GraphKernel::Init(TfLiteContext* context, const TfLiteDelegateParams* params) {
  if (chains_by_node_ == nullptr || params == nullptr || params->nodes_to_replace == nullptr ||
      params->input_tensors == nullptr || params->output_tensors == nullptr) {
    return Error(context, "delegate kernel created without a prepared delegate");
  }
  const std::set<int> inputs(params->input_tensors->data, params->input_tensors->data + params->input_tensors->size);
  const std::set<int> outputs(params->output_tensors->data,
                              params->output_tensors->data + params->output_tensors->size);
  graph::Graph graph;
  std::map<int, int> id_of;  // runtime tensor -> graph tensor
  auto tensor_id = [&](int index) {
    auto found = id_of.find(index);
    if (found != id_of.end()) return found->second;
    const TfLiteTensor& t = context->tensors[index];
    graph::Tensor tensor;
    tensor.shape = Dims(t);
    tensor.name = "tensor " + std::to_string(index) + (t.name ? std::string(" (") + t.name + ")" : "");
    tensor.type = t.type == kTfLiteBool ? graph::DataType::kBool
                  : t.type == kTfLiteInt32 || t.type == kTfLiteInt64 ? graph::DataType::kInt32
                                                                     : graph::DataType::kFloat32;
    const std::vector<int64_t>* known = t.type == kTfLiteFloat32 ? nullptr : folded_->Values(context, index);
    if (t.allocation_type == kTfLiteMmapRo && t.type == kTfLiteFloat32) {
      tensor.constant = t.data.f;
    } else if (known != nullptr) {
      known_.emplace_back(known->size());
      EncodeValues(*known, tensor.type, known_.back().data());
      tensor.constant = known_.back().data();
    } else {
      tensor.external = inputs.count(index) > 0 || outputs.count(index) > 0;
    }
    const int id = graph.AddTensor(std::move(tensor));
    id_of[index] = id;
    // float32 and int32 tensors are bound as they are; bools and int64
    // pass through a buffer.
    if (graph.tensors[id].external && (t.type == kTfLiteBool || t.type == kTfLiteInt64)) {
      converted_externals_.push_back({id, index, outputs.count(index) > 0, std::vector<float>(NumElements(Dims(t)))});
    } else if (graph.tensors[id].external) {
      externals_.emplace_back(id, index);
    }
    return id;
  };
  for (int i = 0; i < params->nodes_to_replace->size; ++i) {
    const int index = params->nodes_to_replace->data[i];
    if (folded_->IsFoldedNode(index)) {
      TfLiteNode* folded = nullptr;
      TfLiteRegistration* registration = nullptr;
      if (context->GetNodeAndRegistration(context, index, &folded, &registration) != kTfLiteOk) {
        return Error(context, "node " + std::to_string(index) + " cannot be read");
      }
      if (outputs.count(folded->outputs->data[0]) > 0) folded_outputs_.push_back(folded->outputs->data[0]);
      continue;
    }
    graph::Node node;
    auto chain = chains_by_node_->find(index);
    if (chain != chains_by_node_->end()) {
      // A masked chain is one conv; its other nodes (PAD, MUL, ADD) are inside it.
      if (index != chain->second->meta.conv_op) continue;
      node = ImportChain(*chain->second);
    } else {
      NodeInfo info;
      info.index = index;
      std::string why;
      if (context->GetNodeAndRegistration(context, index, &info.node, &info.registration) != kTfLiteOk ||
          !ImportNode(context, info, *folded_, &node, &why)) {
        return Error(context, "node " + std::to_string(index) + " cannot be read: " + why);
      }
    }
    for (int& t : node.inputs) t = tensor_id(t);
    node.output = tensor_id(node.output);
    graph.nodes.push_back(std::move(node));
  }
  const size_t num_nodes = graph.nodes.size();
  graph::PlanOptions options;
  options.fuse = fuse_;
  options.num_threads = pool_ ? pool_->num_threads() : 1;
  std::string error;
  plan_ = graph::PartitionPlan::Create(std::move(graph), options, &error);
  if (plan_ == nullptr) return Error(context, "cannot plan the partition: " + error);
  pointers_.assign(plan_->graph().tensors.size(), nullptr);
  logger_.Logf(LogLevel::kInfo, "partition: %d nodes as %zu graph nodes, %zu steps after %zu fusions; arena %.1f KB",
               params->nodes_to_replace->size, num_nodes, plan_->num_steps(), plan_->fusions().size(),
               plan_->arena_bytes() / 1024.0);
  for (const std::string& fusion : plan_->fusions()) logger_.Log(LogLevel::kDebug, "fused " + fusion);
  if (profile_) {
    for (const graph::StepInfo& step : plan_->steps()) {
      step_profiles_.push_back(profile_->Get(step.label, step.output, step.sparsity));
    }
    timer_ = [this](size_t step, uint64_t ns) { step_profiles_[step]->Add(ns); };
  }
  return kTfLiteOk;
}

GraphKernel::~GraphKernel() {
  if (plan_ == nullptr || plan_->runs_on_caller() == 0) return;
  logger_.Logf(LogLevel::kInfo,
               "partition: %llu runs with the pool's workers, %llu on the calling thread alone (probes, and "
               "runs while that measured faster: graph/run_mode.h)",
               static_cast<unsigned long long>(plan_->runs_with_workers()),
               static_cast<unsigned long long>(plan_->runs_on_caller()));
}

TfLiteStatus GraphKernel::Prepare(TfLiteContext* context, TfLiteNode* /*node*/) {
  std::vector<std::pair<int, int>> all = externals_;
  for (const ConvertedExternal& b : converted_externals_) all.emplace_back(b.graph_tensor, b.runtime_tensor);
  for (const auto& external : all) {
    const Shape& planned = plan_->graph().tensors[external.first].shape;
    const Shape now = Dims(context->tensors[external.second]);
    if (now != planned) {
      return Error(context, "tensor " + std::to_string(external.second) + " is " + ShapeText(now) +
                                ", the delegate planned " + ShapeText(planned));
    }
  }
  return kTfLiteOk;
}

TfLiteStatus GraphKernel::Eval(TfLiteContext* context, TfLiteNode* /*node*/) {
  for (int t : folded_outputs_) {
    if (context->tensors[t].data.raw == nullptr) {
      return Error(context, "tensor " + std::to_string(t) + " is not allocated");
    }
    WriteValues(*folded_->Values(context, t), &context->tensors[t]);
  }
  for (const auto& external : externals_) pointers_[external.first] = context->tensors[external.second].data.f;
  for (ConvertedExternal& b : converted_externals_) {
    const TfLiteTensor& t = context->tensors[b.runtime_tensor];
    if (t.data.raw == nullptr) {
      return Error(context, "tensor " + std::to_string(b.runtime_tensor) + " is not allocated");
    }
    pointers_[b.graph_tensor] = b.floats.data();
    if (b.output) continue;
    if (t.type == kTfLiteBool) {
      for (size_t i = 0; i < b.floats.size(); ++i) b.floats[i] = t.data.b[i] ? 1.0f : 0.0f;
      continue;
    }
    std::vector<int64_t> values(t.data.i64, t.data.i64 + b.floats.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if (values[i] < std::numeric_limits<int32_t>::min() || values[i] > std::numeric_limits<int32_t>::max()) {
        return Error(context, "int64 tensor " + std::to_string(b.runtime_tensor) + " holds " +
                                  std::to_string(values[i]) + " at " + std::to_string(i) +
                                  ", beyond the int32 the delegate computes ints in");
      }
    }
    EncodeValues(values, graph::DataType::kInt32, b.floats.data());
  }
  std::string error;
  if (!plan_->Run(pointers_, pool_.get(), &error, profile_ ? &timer_ : nullptr)) {
    if (pool_) pool_->HoldWorkers(false);
    return Error(context, error);
  }
  for (const ConvertedExternal& b : converted_externals_) {
    if (!b.output) continue;
    TfLiteTensor& t = context->tensors[b.runtime_tensor];
    if (t.type == kTfLiteBool) {
      for (size_t i = 0; i < b.floats.size(); ++i) t.data.b[i] = b.floats[i] != 0.0f;
    } else {
      for (size_t i = 0; i < b.floats.size(); ++i) {
        int32_t value;
        std::memcpy(&value, &b.floats[i], sizeof(value));
        t.data.i64[i] = value;
      }
    }
  }
  return kTfLiteOk;
}

}  // namespace actsparse
