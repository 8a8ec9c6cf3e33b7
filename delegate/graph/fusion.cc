#include "delegate/graph/fusion.h"

#include <algorithm>
#include <limits>

namespace actsparse {
namespace graph {
namespace {

bool IsConv(const Node& node) {
  return node.type == OpType::kConv2D || node.type == OpType::kDepthwiseConv2D;
}

bool HasActivation(const Node& node) { return node.act_min > kNoMin || node.act_max < kNoMax; }

class Fuser {
 public:
  explicit Fuser(Graph* graph) : g_(*graph), dead_(graph->nodes.size(), false) {}

  std::vector<std::string> Run() {
    FusePads();
    FuseSilu();
    FuseResiduals();
    FuseActivations();
    std::vector<Node> kept;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!dead_[i]) kept.push_back(std::move(g_.nodes[i]));
    }
    g_.nodes = std::move(kept);
    return std::move(log_);
  }

 private:
  // The only live node reading `tensor`, when `tensor` is internal and read once; else -1.
  int OnlyReader(int tensor) const {
    if (g_.tensors[tensor].external) return -1;
    int found = -1;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i]) continue;
      for (int t : g_.nodes[i].inputs) {
        if (t != tensor) continue;
        if (found >= 0) return -1;
        found = static_cast<int>(i);
      }
    }
    return found;
  }

  int Producer(int tensor) const {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!dead_[i] && g_.nodes[i].output == tensor) return static_cast<int>(i);
    }
    return -1;
  }

  void Note(const Node& from, const Node& into, const char* what) {
    log_.push_back(from.label + " into " + into.label + (what[0] ? " (" : "") + what + (what[0] ? ")" : ""));
  }

  void FusePads() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& pad = g_.nodes[i];
      if (dead_[i] || pad.type != OpType::kPad || pad.paddings.size() != 4) continue;
      if (pad.paddings[0] != std::make_pair(0, 0) || pad.paddings[3] != std::make_pair(0, 0)) continue;
      const int reader = OnlyReader(pad.output);
      if (reader < 0) continue;
      Node& next = g_.nodes[reader];
      if (next.inputs[0] != pad.output) continue;
      const bool lowest = pad.pad_value <= -std::numeric_limits<float>::max();
      if (IsConv(next) && pad.pad_value == 0.0f) {
        next.conv.padding_top += pad.paddings[1].first;
        next.conv.padding_left += pad.paddings[2].first;
      } else if (next.type == OpType::kMaxPool2D && lowest) {
        next.pool.padding_top += pad.paddings[1].first;
        next.pool.padding_left += pad.paddings[2].first;
      } else {
        continue;
      }
      next.inputs[0] = pad.inputs[0];
      dead_[i] = true;
      Note(pad, next, "");
    }
  }

  void FuseSilu() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& sigmoid = g_.nodes[i];
      if (dead_[i] || sigmoid.type != OpType::kUnary || sigmoid.unary_op != kernels::UnaryOp::kSigmoid ||
          HasActivation(sigmoid)) {
        continue;
      }
      const int x = sigmoid.inputs[0];
      const int reader = OnlyReader(sigmoid.output);
      if (reader < 0) continue;
      Node& mul = g_.nodes[reader];
      if (mul.type != OpType::kBinary || mul.binary_op != kernels::BinaryOp::kMul) continue;
      const bool operands = (mul.inputs[0] == x && mul.inputs[1] == sigmoid.output) ||
                            (mul.inputs[1] == x && mul.inputs[0] == sigmoid.output);
      if (!operands || g_.tensors[x].shape != g_.tensors[mul.output].shape) continue;
      Note(sigmoid, mul, "SiLU");
      mul.type = OpType::kUnary;
      mul.unary_op = kernels::UnaryOp::kSilu;
      mul.inputs = {x};
      mul.label += "+SiLU";
      dead_[i] = true;
    }
  }

  void FuseResiduals() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& add = g_.nodes[i];
      if (dead_[i] || add.type != OpType::kBinary || add.binary_op != kernels::BinaryOp::kAdd) continue;
      const Shape& out_shape = g_.tensors[add.output].shape;
      if (g_.tensors[add.inputs[0]].shape != out_shape || g_.tensors[add.inputs[1]].shape != out_shape) continue;
      if (add.inputs[0] == add.inputs[1]) continue;
      // The operand produced by a conv with nothing fused into its output yet.
      for (int side = 0; side < 2; ++side) {
        const int produced = add.inputs[side], other = add.inputs[1 - side];
        if (g_.tensors[other].constant != nullptr) continue;
        const int p = Producer(produced);
        if (p < 0 || !IsConv(g_.nodes[p]) || OnlyReader(produced) != static_cast<int>(i)) continue;
        Node conv = g_.nodes[p];
        if (conv.stage.residual || conv.stage.unary) continue;
        conv.inputs.push_back(other);
        conv.stage.residual = true;
        conv.stage.residual_min = add.act_min;
        conv.stage.residual_max = add.act_max;
        conv.output = add.output;
        // It runs where the ADD ran: the residual may be computed after the conv.
        Note(add, conv, "residual");
        dead_[p] = true;
        add = std::move(conv);
        break;
      }
    }
  }

  void FuseActivations() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& act = g_.nodes[i];
      if (dead_[i] || act.type != OpType::kUnary) continue;
      const int p = Producer(act.inputs[0]);
      if (p < 0 || !IsConv(g_.nodes[p]) || OnlyReader(act.inputs[0]) != static_cast<int>(i)) continue;
      Node& conv = g_.nodes[p];
      if (conv.stage.unary) continue;
      const bool clamp = act.unary_op == kernels::UnaryOp::kClamp;
      if (clamp && !conv.stage.residual &&
          std::max(conv.act_min, act.act_min) <= std::min(conv.act_max, act.act_max)) {
        // Two overlapping clamps are one.
        conv.act_min = std::max(conv.act_min, act.act_min);
        conv.act_max = std::min(conv.act_max, act.act_max);
      } else if (clamp && conv.stage.residual &&
                 std::max(conv.stage.residual_min, act.act_min) <= std::min(conv.stage.residual_max, act.act_max)) {
        conv.stage.residual_min = std::max(conv.stage.residual_min, act.act_min);
        conv.stage.residual_max = std::min(conv.stage.residual_max, act.act_max);
      } else {
        conv.stage.unary = true;
        conv.stage.unary_op = act.unary_op;
        conv.stage.unary_params.alpha = act.alpha;
        conv.stage.unary_params.lo = act.act_min;
        conv.stage.unary_params.hi = act.act_max;
      }
      conv.output = act.output;
      dead_[i] = true;
      Note(act, conv, "activation");
    }
  }

  Graph& g_;
  std::vector<bool> dead_;
  std::vector<std::string> log_;
};

}  // namespace

std::vector<std::string> FuseGraph(Graph* graph) { return Fuser(graph).Run(); }

}  // namespace graph
}  // namespace actsparse
