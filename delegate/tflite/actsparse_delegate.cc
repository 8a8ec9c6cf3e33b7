#include "delegate/tflite/actsparse_delegate.h"

#include <cstdio>
#include <sstream>

#include "delegate/format/mask_format.h"
#include "delegate/kernels/sparse_conv_kernels.h"
#include "delegate/format/metadata_name.h"
#include "delegate/tflite/abi_check.h"
#include "delegate/tflite/graph_import.h"
#include "delegate/tflite/graph_kernel.h"

namespace actsparse {
namespace {

// The operators a masked chain can be made of.
bool IsChainOperator(int32_t builtin_code) {
  switch (builtin_code) {
    case kTfLiteBuiltinConv2d:
    case kTfLiteBuiltinDepthwiseConv2d:
    case kTfLiteBuiltinMul:
    case kTfLiteBuiltinAdd:
    case kTfLiteBuiltinPad:
      return true;
    default:
      return false;
  }
}

// The tensors of every node the delegate may read pass the ABI check.
bool CheckReadTensors(const TfLiteContext* context, const NodeInfo& info, bool graph, std::string* why) {
  const int32_t code = info.registration->builtin_code;
  if (!IsChainOperator(code) && !(graph && ImportsBuiltin(code))) return true;
  for (const TfLiteIntArray* list : {info.node->inputs, info.node->outputs}) {
    for (int i = 0; i < list->size; ++i) {
      if (list->data[i] < 0) continue;
      if (!CheckTensorAbi(context, list->data[i], why)) {
        *why = "node " + std::to_string(info.index) + " " +
               BuiltinName(info.registration->builtin_code) + ": " + *why;
        return false;
      }
    }
  }
  return true;
}

}  // namespace

bool ReadModelMetadata(const TfLiteContext* context, const char* name, const char** data,
                       size_t* bytes) {
  *data = nullptr;
  *bytes = 0;
  if (context->GetModelMetadata == nullptr) return false;
  const char* ptr = nullptr;
  size_t size = 0;
  if (context->GetModelMetadata(context, name, &ptr, &size) != kTfLiteOk || ptr == nullptr) {
    return false;
  }
  *data = ptr;
  *bytes = size;
  return true;
}

ActsparseDelegate::ActsparseDelegate(const DelegateOptions& options)
    : options_(options),
      logger_(options.log_level),
      profile_(options.profile ? std::make_shared<ChainProfile>(
                                     options.claim == DelegateOptions::Claim::kGraph ? "step" : "chain")
                               : nullptr) {}

ActsparseDelegate::~ActsparseDelegate() {
  if (profile_ == nullptr) return;
  // Asked for explicitly, so printed whatever the log level.
  const std::string report = profile_->Report(summary_.num_threads);
  if (!report.empty()) std::fputs(report.c_str(), stderr);
}

bool ActsparseDelegate::BeginPrepare(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                                     std::string* why) {
  summary_ = PrepareSummary{};
  summary_.num_nodes = plan.size();
  summary_.num_threads = ResolveNumThreads(options_, context->recommended_num_threads);
  const bool graph = options_.claim == DelegateOptions::Claim::kGraph;
  for (const NodeInfo& info : plan) {
    summary_.op_counts[BuiltinName(info.registration->builtin_code)] += 1;
    if (!CheckReadTensors(context, info, graph, why)) {
      summary_.abi_error = *why;
      logger_.Log(LogLevel::kError, "runtime ABI check failed, claiming nothing: " + *why);
      return false;
    }
  }
  summary_.abi_ok = true;

  const char* metadata = nullptr;
  summary_.has_metadata =
      ReadModelMetadata(context, kMetadataName, &metadata, &summary_.metadata_bytes);
  claimed_nodes_.clear();
  chains_by_node_ = std::make_shared<ChainKernel::ChainsByNode>();
  folded_ = std::make_shared<FoldedTensors>();
  if (graph) {
    folded_->Build(context, plan);
    if (folded_->num_folded_nodes() > 0) {
      logger_.Logf(LogLevel::kInfo, "%zu int / bool nodes computed from constants alone: folded",
                   folded_->num_folded_nodes());
    }
  }

  if (logger_.Enabled(LogLevel::kInfo)) {
    std::ostringstream ops;
    for (const auto& entry : summary_.op_counts) {
      ops << (ops.tellp() > 0 ? ", " : "") << entry.first << " x" << entry.second;
    }
    logger_.Logf(LogLevel::kInfo, "graph: %zu nodes (%s); %d thread(s); claim=%s", summary_.num_nodes,
                 ops.str().c_str(), summary_.num_threads, graph ? "graph" : "chains");
  }
  ValidateChains(context, plan, metadata);
  if (!graph && claimed_nodes_.empty()) {
    *why = !summary_.has_metadata ? std::string("no '") + kMetadataName + "' metadata"
           : !summary_.metadata_error.empty() ? "corrupt metadata"
                                              : "no listed chain validated";
    EndPrepare(context, plan, {});
    return false;
  }
  if (!pool_ || pool_->num_threads() != summary_.num_threads) {
    pool_ = std::make_shared<ThreadPool>(summary_.num_threads);
  }
  return true;
}

void ActsparseDelegate::ValidateChains(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                                       const char* metadata) {
  if (!summary_.has_metadata) {
    logger_.Logf(LogLevel::kInfo, "model has no '%s' metadata: no masked convolutions listed", kMetadataName);
    return;
  }
  logger_.Logf(LogLevel::kInfo, "model metadata '%s': %zu bytes", kMetadataName, summary_.metadata_bytes);
  std::vector<MaskedChain> chains;
  if (!ParseMaskMetadata(reinterpret_cast<const uint8_t*>(metadata), summary_.metadata_bytes, &chains,
                         &summary_.metadata_error)) {
    logger_.Logf(LogLevel::kWarning, "ignoring corrupt '%s' metadata, claiming %s: %s", kMetadataName,
                 options_.claim == DelegateOptions::Claim::kGraph ? "no masked chain (the graph runs dense)"
                                                                  : "nothing",
                 summary_.metadata_error.c_str());
    return;
  }
  summary_.num_chains_listed = chains.size();
  const std::map<int, int> consumers = CountConsumers(plan);
  for (const MaskedChain& chain : chains) {
    ChainPlan validated;
    std::string reason;
    bool ok = ValidateChain(context, plan, consumers, chain, &validated, &reason);
    if (ok) {
      for (int node : validated.nodes) {
        if (claimed_nodes_.count(node)) {
          ok = false;
          reason = "node " + std::to_string(node) + " belongs to another listed chain";
        }
      }
    }
    if (!ok) {
      summary_.refusals.push_back(chain.name + ": " + reason);
      logger_.Logf(LogLevel::kInfo, "not claiming %s: %s", chain.name.c_str(), reason.c_str());
      continue;
    }
    logger_.Logf(LogLevel::kDebug, "claiming %s: nodes %d..%d, %ux%u mask, sparsity %.3f",
                 chain.name.c_str(), validated.nodes.front(), validated.nodes.back(), chain.height,
                 chain.width, chain.sparsity());
    claimed_nodes_.insert(validated.nodes.begin(), validated.nodes.end());
    auto shared = std::make_shared<const ChainPlan>(std::move(validated));
    for (int node : shared->nodes) (*chains_by_node_)[node] = shared;
    summary_.num_chains_claimed += 1;
  }
}

bool ActsparseDelegate::IsNodeSupported(TfLiteContext* context, const NodeInfo& node,
                                        std::string* reason) {
  if (claimed_nodes_.count(node.index)) return true;
  if (options_.claim == DelegateOptions::Claim::kChains) {
    if (IsChainOperator(node.registration->builtin_code)) *reason = "not part of a listed, valid chain";
    return false;
  }
  // Folded: its values are known; the kernel writes them if the runtime reads them.
  if (folded_->IsFoldedNode(node.index)) return true;
  graph::Node imported;
  if (ImportNode(context, node, *folded_, &imported, reason)) return true;
  const std::string label =
      "node " + std::to_string(node.index) + " (" + BuiltinName(node.registration->builtin_code) + ")";
  summary_.refusals.push_back(label + ": " + *reason);
  logger_.Logf(LogLevel::kInfo, "not claiming %s: %s", label.c_str(), reason->c_str());
  return false;
}

void ActsparseDelegate::EndPrepare(TfLiteContext* /*context*/, const std::vector<NodeInfo>& plan,
                                   const std::vector<int>& claimed) {
  summary_.num_claimed = claimed.size();
  const char* kernel = kernels::SelectIgemm().name;
  logger_.Logf(LogLevel::kInfo, "claimed %zu of %zu nodes: %zu of %zu listed chains; conv micro-kernel %s",
               claimed.size(), plan.size(), summary_.num_chains_claimed, summary_.num_chains_listed,
               kernel);
}

std::unique_ptr<DelegateKernel> ActsparseDelegate::CreateKernel() {
  if (options_.claim == DelegateOptions::Claim::kGraph) {
    return std::make_unique<GraphKernel>(chains_by_node_, folded_, pool_, profile_, logger_, options_.fuse);
  }
  return std::make_unique<ChainKernel>(chains_by_node_, pool_, profile_);
}

}  // namespace actsparse
