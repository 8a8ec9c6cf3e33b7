#include "delegate/tflite/actsparse_delegate.h"

#include <sstream>

#include "delegate/format/metadata_name.h"
#include "delegate/tflite/abi_check.h"

namespace actsparse {
namespace {

// The operators a masked chain can be made of; their tensors are the ones the
// delegate will read, so they are the ones the ABI check looks at.
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

bool CheckChainTensors(const TfLiteContext* context, const NodeInfo& info, std::string* why) {
  if (!IsChainOperator(info.registration->builtin_code)) return true;
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
    : options_(options), logger_(options.log_level) {}

bool ActsparseDelegate::BeginPrepare(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                                     std::string* why) {
  summary_ = PrepareSummary{};
  summary_.num_nodes = plan.size();
  summary_.num_threads = ResolveNumThreads(options_, context->recommended_num_threads);
  for (const NodeInfo& info : plan) {
    summary_.op_counts[BuiltinName(info.registration->builtin_code)] += 1;
    if (!CheckChainTensors(context, info, why)) {
      summary_.abi_error = *why;
      logger_.Log(LogLevel::kError, "runtime ABI check failed, claiming nothing: " + *why);
      return false;
    }
  }
  summary_.abi_ok = true;

  const char* metadata = nullptr;
  summary_.has_metadata =
      ReadModelMetadata(context, kMetadataName, &metadata, &summary_.metadata_bytes);

  if (logger_.Enabled(LogLevel::kInfo)) {
    std::ostringstream ops;
    for (const auto& entry : summary_.op_counts) {
      ops << (ops.tellp() > 0 ? ", " : "") << entry.first << " x" << entry.second;
    }
    logger_.Logf(LogLevel::kInfo, "graph: %zu nodes (%s); %d thread(s)", summary_.num_nodes,
                 ops.str().c_str(), summary_.num_threads);
    if (summary_.has_metadata) {
      logger_.Logf(LogLevel::kInfo, "model metadata '%s': %zu bytes", kMetadataName,
                   summary_.metadata_bytes);
    } else {
      logger_.Logf(LogLevel::kInfo, "model has no '%s' metadata: no masked convolutions listed",
                   kMetadataName);
    }
  }
  if (!summary_.has_metadata) {
    *why = std::string("no '") + kMetadataName + "' metadata";
    EndPrepare(context, plan, {});
    return false;
  }
  return true;
}

bool ActsparseDelegate::IsNodeSupported(TfLiteContext* /*context*/, const NodeInfo& node,
                                        std::string* reason) {
  if (IsChainOperator(node.registration->builtin_code)) {
    *reason = "this build has no masked-chain kernels; the runtime keeps it";
  }
  return false;
}

void ActsparseDelegate::EndPrepare(TfLiteContext* /*context*/, const std::vector<NodeInfo>& plan,
                                   const std::vector<int>& claimed) {
  summary_.num_claimed = claimed.size();
  logger_.Logf(LogLevel::kInfo, "claimed %zu of %zu nodes", claimed.size(), plan.size());
}

std::unique_ptr<DelegateKernel> ActsparseDelegate::CreateKernel() {
  // Unreachable while IsNodeSupported claims nothing; the glue reports a
  // null kernel as an error rather than running anything.
  return nullptr;
}

}  // namespace actsparse
