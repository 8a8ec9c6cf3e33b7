#include "delegate/graph/graph.h"

namespace actsparse {
namespace graph {

const char* OpTypeName(OpType type) {
  switch (type) {
    case OpType::kConv2D: return "CONV_2D";
    case OpType::kConv3D: return "CONV_3D";
    case OpType::kTransposeConv: return "TRANSPOSE_CONV";
    case OpType::kDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
    case OpType::kFullyConnected: return "FULLY_CONNECTED";
    case OpType::kBinary: return "BINARY";
    case OpType::kUnary: return "UNARY";
    case OpType::kMaxPool2D: return "MAX_POOL_2D";
    case OpType::kAveragePool2D: return "AVERAGE_POOL_2D";
    case OpType::kSumPool2D: return "SUM_POOL_2D";
    case OpType::kMean: return "MEAN";
    case OpType::kPad: return "PAD";
    case OpType::kReshape: return "RESHAPE";
    case OpType::kTranspose: return "TRANSPOSE";
    case OpType::kSlice: return "SLICE";
    case OpType::kBroadcastTo: return "BROADCAST_TO";
    case OpType::kStridedSlice: return "STRIDED_SLICE";
    case OpType::kConcatenation: return "CONCATENATION";
    case OpType::kResizeNearest: return "RESIZE_NEAREST_NEIGHBOR";
    case OpType::kResizeBilinear: return "RESIZE_BILINEAR";
    case OpType::kSoftmax: return "SOFTMAX";
    case OpType::kSelect: return "SELECT";
    case OpType::kBatchMatMul: return "BATCH_MATMUL";
    case OpType::kL2Normalization: return "L2_NORMALIZATION";
    case OpType::kGather: return "GATHER_ND";
    case OpType::kArgReduce: return "ARG_MAX";
    case OpType::kCumsum: return "CUMSUM";
    case OpType::kBandedConvs: return "BANDED_CONVS";
    case OpType::kElementwiseChain: return "ELEMENTWISE_CHAIN";
  }
  return "?";
}

bool Validate(const Graph& graph, std::string* error) {
  const int num_tensors = static_cast<int>(graph.tensors.size());
  std::vector<bool> written(graph.tensors.size(), false), produced(graph.tensors.size(), false);
  for (const Node& node : graph.nodes) {
    if (node.output >= 0 && node.output < num_tensors) produced[node.output] = true;
  }
  for (int t = 0; t < num_tensors; ++t) {
    const Tensor& tensor = graph.tensors[t];
    if (tensor.shape.size() > static_cast<size_t>(kMaxRank)) {
      *error = "tensor " + tensor.name + " has rank " + std::to_string(tensor.shape.size()) + " > " +
               std::to_string(kMaxRank);
      return false;
    }
    for (int d : tensor.shape) {
      if (d < 1) {
        *error = "tensor " + tensor.name + " has shape " + ShapeText(tensor.shape);
        return false;
      }
    }
    // Partition inputs and model constants are there before any node runs.
    written[t] = (tensor.external && !produced[t]) || tensor.constant != nullptr;
  }
  for (const Node& node : graph.nodes) {
    auto fail = [&](const std::string& message) {
      *error = node.label + ": " + message;
      return false;
    };
    if (node.inputs.empty()) return fail("no inputs");
    for (int t : node.inputs) {
      if (t < 0 || t >= num_tensors) return fail("input tensor " + std::to_string(t) + " out of range");
      if (!written[t]) return fail("reads tensor " + graph.tensors[t].name + " before any node writes it");
    }
    if (node.output < 0 || node.output >= num_tensors) return fail("output tensor out of range");
    const Tensor& out = graph.tensors[node.output];
    if (out.constant != nullptr) return fail("writes the constant " + out.name);
    if (written[node.output]) return fail("writes " + out.name + ", which is written before");
    written[node.output] = true;
  }
  return true;
}

}  // namespace graph
}  // namespace actsparse
