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
    case OpType::kGatherNd: return "GATHER_ND";
    case OpType::kIntBinary: return "INT_BINARY";
    case OpType::kCast: return "CAST";
    case OpType::kArgReduce: return "ARG_MAX";
    case OpType::kCumsum: return "CUMSUM";
    case OpType::kBandedConvs: return "BANDED_CONVS";
    case OpType::kElementwiseChain: return "ELEMENTWISE_CHAIN";
    case OpType::kElementwiseGroup: return "ELEMENTWISE_GROUP";
    case OpType::kAttention: return "ATTENTION";
  }
  return "?";
}

const char* DataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat32: return "float32";
    case DataType::kBool: return "bool";
    case DataType::kInt32: return "int32";
  }
  return "?";
}

namespace {

// Whether the node reads and writes tensors of the types its op takes;
// if not, says which. Floats and bools are both floats to the float ops
// (a bool SELECT condition, a LOGICAL_AND as a MINIMUM); int32 tensors
// are read only by the int ops and the copies.
std::string TypeMismatch(const Graph& graph, const Node& node) {
  auto type = [&](int t) { return graph.tensors[t].type; };
  auto is_int = [&](int t) { return type(t) == DataType::kInt32; };
  const DataType out = type(node.output);
  auto named = [&](int t) { return graph.tensors[t].name + " is " + DataTypeName(type(t)); };
  switch (node.type) {
    case OpType::kIntBinary: {
      if (!kernels::IsIntBinaryOp(node.binary_op)) return "an int node with a float op";
      for (int t : node.inputs) {
        if (!is_int(t)) return named(t);
      }
      if (out != (kernels::IsComparisonOp(node.binary_op) ? DataType::kBool : DataType::kInt32)) {
        return named(node.output);
      }
      return "";
    }
    case OpType::kCast:
      if (is_int(node.inputs[0]) == (node.cast_to == DataType::kInt32)) return named(node.inputs[0]);
      if (out != node.cast_to) return named(node.output);
      return "";
    case OpType::kArgReduce:
      if (is_int(node.inputs[0])) return named(node.inputs[0]);
      if (out != DataType::kInt32) return named(node.output);
      return "";
    case OpType::kGatherNd:
      if (node.inputs.size() < 2) return "no indices";
      for (size_t i = 1; i < node.inputs.size(); ++i) {
        if (!is_int(node.inputs[i])) return "indices " + named(node.inputs[i]);
      }
      if (is_int(node.inputs[0]) != is_int(node.output)) return named(node.output);
      return "";
    case OpType::kSelect:
      if (is_int(node.inputs[0])) return named(node.inputs[0]);
      for (size_t i = 1; i < node.inputs.size(); ++i) {
        if (is_int(node.inputs[i]) != is_int(node.output)) return named(node.inputs[i]);
      }
      return "";
    case OpType::kReshape:
    case OpType::kTranspose:
    case OpType::kSlice:
    case OpType::kBroadcastTo:
    case OpType::kStridedSlice:
    case OpType::kConcatenation:
    case OpType::kGather:
      for (int t : node.inputs) {
        if (is_int(t) != is_int(node.output)) return named(t);
      }
      return "";
    default:
      if (kernels::IsIntBinaryOp(node.binary_op) && node.type == OpType::kBinary) return "a float node with an int op";
      for (int t : node.inputs) {
        if (is_int(t)) return named(t);
      }
      if (is_int(node.output)) return named(node.output);
      return "";
  }
}

}  // namespace

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
    const std::string mismatch = TypeMismatch(graph, node);
    if (!mismatch.empty()) return fail(std::string(OpTypeName(node.type)) + " of the wrong type: " + mismatch);
  }
  return true;
}

}  // namespace graph
}  // namespace actsparse
