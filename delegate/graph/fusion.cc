#include "delegate/graph/fusion.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "delegate/operator/elementwise.h"
#include "delegate/operator/matmul.h"

namespace actsparse {
namespace graph {
namespace {

bool IsConv(const Node& node) {
  return node.type == OpType::kConv2D || node.type == OpType::kDepthwiseConv2D;
}

bool HasActivation(const Node& node) { return node.act_min > kNoMin || node.act_max < kNoMax; }

// The shortest innermost run a reduction is moved onto through a transpose
// that stays (MeansThroughTransposes).
constexpr size_t kMinReducedRun = 64;

class Fuser {
 public:
  Fuser(Graph* graph, const FusionOptions& options)
      : g_(*graph), options_(options), dead_(graph->nodes.size(), false) {}

  std::vector<std::string> Run() {
    // SiLU, softplus, Mish and ELU first: as one unary op each moves before a
    // transpose as HARD_SWISH does, and the chains do not take their parts.
    FuseSilu();
    FuseSoftplusAndElu();
    FuseMish();
    ScalesIntoSoftmax();
    FuseAttention();
    UnariesBeforeTransposes();
    MeansThroughTransposes();
    BinariesThroughTransposePairs();
    RemoveUnread();
    DepthwiseTransposeConvs();
    SlicesIntoConcatenations();
    FusePads();
    FuseResiduals();
    FuseActivations();
    FoldChannelScales();
    FuseElementwiseChains();
    if (options_.bands) FuseInvertedResiduals();
    IndexColumnsIntoGathers();
    FuseElementwiseGroups();
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

  // UNARY(TRANSPOSE(x)) = TRANSPOSE(UNARY(x)), the op elementwise: the
  // unary moves before the transpose, where it can join the conv that
  // produced x (litert-torch: a conv, TRANSPOSE to NCHW, HARD_SWISH, then
  // MEAN over H and W, whose transpose MeansThroughTransposes then drops).
  void UnariesBeforeTransposes() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i] || g_.nodes[i].type != OpType::kTranspose) continue;
      const int u = OnlyReader(g_.nodes[i].output);
      if (u < 0 || g_.nodes[u].type != OpType::kUnary || OnlyReader(g_.nodes[i].inputs[0]) != static_cast<int>(i)) {
        continue;
      }
      Node transpose = g_.nodes[i];
      Node unary = g_.nodes[u];
      Tensor moved = g_.tensors[transpose.inputs[0]];
      moved.external = false;
      moved.constant = nullptr;
      moved.name = g_.tensors[unary.output].name + " (before " + transpose.label + ")";
      const int moved_id = g_.AddTensor(moved);
      log_.push_back(unary.label + " moved before " + transpose.label);
      unary.inputs = {transpose.inputs[0]};
      unary.output = moved_id;
      transpose.inputs = {moved_id};
      transpose.output = g_.nodes[u].output;
      // The unary runs where the transpose ran, the transpose where the unary ran.
      g_.nodes[i] = std::move(unary);
      g_.nodes[u] = std::move(transpose);
    }
  }

  // MEAN(TRANSPOSE(x, perm), axes) reads the same numbers as a MEAN of x over
  // perm[axes]; when the kept dims stay in order the output bytes are the
  // same too (litert-torch: TRANSPOSE to NCHW, then MEAN over H and W).
  void MeansThroughTransposes() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& mean = g_.nodes[i];
      if (dead_[i] || mean.type != OpType::kMean) continue;
      const int p = Producer(mean.inputs[0]);
      if (p < 0 || g_.nodes[p].type != OpType::kTranspose) continue;
      const std::vector<int>& perm = g_.nodes[p].axes;
      std::vector<int> axes;
      for (int a : mean.axes) axes.push_back(perm[a]);
      std::sort(axes.begin(), axes.end());
      bool contiguous = true, kept_in_order = true;
      for (size_t k = 1; k < axes.size(); ++k) contiguous = contiguous && axes[k] == axes[k - 1] + 1;
      int last = -1;
      for (size_t d = 0; d < perm.size(); ++d) {
        if (std::find(mean.axes.begin(), mean.axes.end(), static_cast<int>(d)) != mean.axes.end()) continue;
        kept_in_order = kept_in_order && perm[d] > last;
        last = perm[d];
      }
      if (!contiguous || !kept_in_order) continue;
      // Where the transpose stays for other readers, a reduction that would
      // become rows of a few floats (a softmax's max over 7 classes per
      // pixel, NCHW -> NHWC) costs more than it saves: a call per pixel.
      const Shape& untransposed = g_.tensors[g_.nodes[p].inputs[0]].shape;
      size_t run = 1;
      for (int a : axes) run *= static_cast<size_t>(untransposed[a]);
      const bool innermost = axes.back() + 1 == static_cast<int>(untransposed.size());
      if (innermost && run < kMinReducedRun && OnlyReader(g_.nodes[p].output) < 0) continue;
      Note(g_.nodes[p], mean, "mean of the untransposed input");
      mean.inputs[0] = g_.nodes[p].inputs[0];
      mean.axes = axes;
    }
  }

  // TRANSPOSE(x, p) -> binary op with an operand that only broadcasts ->
  // TRANSPOSE(q = p^-1): the binary op on x itself, with the other operand
  // viewed in x's layout (a reshape when its non-1 dims keep their order:
  // squeeze-excitation's per-channel scale).
  void BinariesThroughTransposePairs() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& first = g_.nodes[i];
      if (dead_[i] || first.type != OpType::kTranspose) continue;
      const int b = OnlyReader(first.output);
      if (b < 0 || g_.nodes[b].type != OpType::kBinary) continue;
      Node& binary = g_.nodes[b];
      const int side = binary.inputs[0] == first.output ? 0 : 1;
      const int other = binary.inputs[1 - side];
      if (other == first.output) continue;
      const int s = OnlyReader(binary.output);
      if (s < 0 || g_.nodes[s].type != OpType::kTranspose) continue;
      Node& second = g_.nodes[s];
      const std::vector<int>& perm = first.axes;
      bool inverse = second.axes.size() == perm.size();
      for (size_t d = 0; inverse && d < perm.size(); ++d) inverse = perm[second.axes[d]] == static_cast<int>(d);
      const Shape& y = g_.tensors[first.output].shape;
      if (!inverse || g_.tensors[binary.output].shape != y) continue;
      // The other operand, right-aligned to y's rank, moved to x's layout.
      const Shape& o = g_.tensors[other].shape;
      if (o.size() > y.size()) continue;
      Shape aligned(y.size() - o.size(), 1);
      aligned.insert(aligned.end(), o.begin(), o.end());
      Shape moved(y.size(), 1);
      int last = -1;
      bool reshape_only = true;
      for (size_t d = 0; d < y.size(); ++d) {
        moved[perm[d]] = aligned[d];
        if (aligned[d] == 1) continue;
        reshape_only = reshape_only && perm[d] > last;
        last = perm[d];
      }
      if (!reshape_only) continue;
      Tensor view = g_.tensors[other];
      view.shape = moved;
      view.external = false;
      view.name += " (in the untransposed layout)";
      const int moved_id = g_.AddTensor(view);
      if (g_.tensors[other].constant == nullptr) {
        // An activation: a reshape node (it aliases its input) right before the binary op.
        Node reshape;
        reshape.type = OpType::kReshape;
        reshape.inputs = {other};
        reshape.output = moved_id;
        reshape.label = binary.label + "/view";
        pending_.emplace_back(static_cast<size_t>(b), reshape);
      }
      Note(first, binary, "transposes around it removed");
      Note(second, binary, "transposes around it removed");
      binary.inputs[side] = first.inputs[0];
      binary.inputs[1 - side] = moved_id;
      binary.output = second.output;
      dead_[s] = true;
    }
    // Insert the views (back to front, so earlier positions stay valid).
    std::sort(pending_.begin(), pending_.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& entry : pending_) {
      g_.nodes.insert(g_.nodes.begin() + static_cast<long>(entry.first), entry.second);
      dead_.insert(dead_.begin() + static_cast<long>(entry.first), false);
    }
    pending_.clear();
  }

  // Nodes whose output nobody reads any more (and the caller does not bind).
  void RemoveUnread() {
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t i = 0; i < g_.nodes.size(); ++i) {
        if (dead_[i] || g_.tensors[g_.nodes[i].output].external) continue;
        bool read = false;
        for (size_t j = 0; j < g_.nodes.size() && !read; ++j) {
          if (dead_[j]) continue;
          for (int t : g_.nodes[j].inputs) read = read || t == g_.nodes[i].output;
        }
        if (!read) {
          dead_[i] = true;
          changed = true;
        }
      }
    }
  }

  // SLICE(CONCATENATION(a, b, ...)) keeping the whole of every dim but the
  // concatenation's axis: the concatenation copies only the sliced part of
  // each input (GhostNet: a conv and its cheap depthwise op concatenated,
  // then cut to an odd channel count; two copies become one).
  // litert-torch writes a ConvTranspose2d with groups = channels (CenterNet's
  // upsampling) as, per channel, a SLICE of that channel and a transposed
  // conv of one channel, then a CONCATENATION of them all: one depthwise
  // transposed conv, the same products summed in the same order (exact).
  // 32 channels took 32 steps of 18 us each; one step takes about one.
  void DepthwiseTransposeConvs() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& concat = g_.nodes[i];
      if (dead_[i] || concat.type != OpType::kConcatenation || HasActivation(concat) ||
          !concat.concat_ranges.empty() || concat.inputs.size() < 2) {
        continue;
      }
      const Shape& whole = g_.tensors[concat.output].shape;
      if (whole.size() != 4 || (concat.axis != 3 && concat.axis != -1) ||
          whole[3] != static_cast<int>(concat.inputs.size())) {
        continue;
      }
      std::vector<int> convs, slices;
      int source = -1;
      for (size_t k = 0; k < concat.inputs.size(); ++k) {
        const int t = Producer(concat.inputs[k]);
        if (t < 0 || OnlyReader(concat.inputs[k]) != static_cast<int>(i)) break;
        const Node& conv = g_.nodes[t];
        if (conv.type != OpType::kTransposeConv || HasActivation(conv) || !conv.conv.channel_weights.empty() ||
            conv.inputs.size() != 1) {
          break;
        }
        const int s = Producer(conv.inputs[0]);
        if (s < 0 || OnlyReader(conv.inputs[0]) != t || g_.nodes[s].type != OpType::kSlice) break;
        const Node& slice = g_.nodes[s];
        const Shape& in = g_.tensors[slice.inputs[0]].shape;
        const Shape& part = g_.tensors[slice.output].shape;
        if (source < 0) source = slice.inputs[0];
        const Node::Conv& first = convs.empty() ? conv.conv : g_.nodes[convs[0]].conv;
        const bool same_geometry = conv.conv.kernel_height == first.kernel_height &&
                                   conv.conv.kernel_width == first.kernel_width &&
                                   conv.conv.stride_height == first.stride_height &&
                                   conv.conv.stride_width == first.stride_width &&
                                   conv.conv.padding_top == first.padding_top &&
                                   conv.conv.padding_left == first.padding_left;
        if (slice.inputs[0] != source || in.size() != 4 || in[3] != whole[3] ||
            part != Shape({in[0], in[1], in[2], 1}) || slice.begin != std::vector<int>({0, 0, 0, static_cast<int>(k)}) ||
            !same_geometry) {
          break;
        }
        convs.push_back(t);
        slices.push_back(s);
      }
      if (convs.size() != concat.inputs.size()) continue;
      Node fused = g_.nodes[convs[0]];
      fused.label = concat.label;
      fused.inputs = {source};
      fused.output = concat.output;
      fused.conv.weights = nullptr;
      fused.conv.bias = nullptr;
      for (int t : convs) {
        fused.conv.channel_weights.push_back(g_.nodes[t].conv.weights);
        fused.conv.channel_biases.push_back(g_.nodes[t].conv.bias);
        dead_[t] = true;
      }
      for (int s : slices) dead_[s] = true;
      log_.push_back(std::to_string(convs.size()) + " one-channel TRANSPOSE_CONVs and their SLICEs into " +
                     concat.label + " (a depthwise transposed conv)");
      g_.nodes[i] = std::move(fused);
    }
  }

  void SlicesIntoConcatenations() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& slice = g_.nodes[i];
      if (dead_[i] || slice.type != OpType::kSlice) continue;
      const int c = Producer(slice.inputs[0]);
      if (c < 0 || g_.nodes[c].type != OpType::kConcatenation || OnlyReader(slice.inputs[0]) != static_cast<int>(i) ||
          !g_.nodes[c].concat_ranges.empty()) {
        continue;
      }
      Node& concat = g_.nodes[c];
      const Shape& whole = g_.tensors[concat.output].shape;
      const Shape& part = g_.tensors[slice.output].shape;
      const int rank = static_cast<int>(whole.size());
      const int axis = concat.axis < 0 ? concat.axis + rank : concat.axis;
      bool box = static_cast<int>(part.size()) == rank && static_cast<int>(slice.begin.size()) == rank;
      for (int d = 0; box && d < rank; ++d) box = d == axis || (slice.begin[d] == 0 && part[d] == whole[d]);
      if (!box) continue;
      const int first = slice.begin[axis], last = first + part[axis];  // [first, last) of the concatenation
      std::vector<int> inputs;
      std::vector<std::pair<int, int>> ranges;
      int start = 0;
      for (int input : concat.inputs) {
        const int size = g_.tensors[input].shape[axis];
        const int from = std::max(first, start), to = std::min(last, start + size);
        if (from < to) {
          inputs.push_back(input);
          ranges.emplace_back(from - start, to - from);
        }
        start += size;
      }
      Note(slice, concat, "a part of each input");
      concat.inputs = std::move(inputs);
      concat.concat_ranges = std::move(ranges);
      concat.output = slice.output;
      dead_[i] = true;
    }
  }

  void FusePads() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& pad = g_.nodes[i];
      if (dead_[i] || pad.type != OpType::kPad || pad.pad_mode != PadMode::kConstant || pad.paddings.size() != 4) {
        continue;
      }
      if (pad.paddings[0] != std::make_pair(0, 0) || pad.paddings[3] != std::make_pair(0, 0)) continue;
      const int reader = OnlyReader(pad.output);
      if (reader < 0) continue;
      Node& next = g_.nodes[reader];
      if (next.inputs[0] != pad.output) continue;
      const bool lowest = pad.pad_value <= -std::numeric_limits<float>::max();
      if (IsConv(next) && pad.pad_value == 0.0f) {
        next.conv.padding_top += pad.paddings[1].first;
        next.conv.padding_left += pad.paddings[2].first;
      } else if (next.type == OpType::kMaxPool2D && lowest && next.pool.height_axis == 1 &&
                 next.pool.width_axis == 2) {
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

  // Whether `tensor` is a model constant of one value; if so, `*value` is it.
  bool ScalarConstant(int tensor, float* value) const {
    const Tensor& t = g_.tensors[tensor];
    if (t.constant == nullptr || NumElements(t.shape) != 1) return false;
    *value = t.constant[0];
    return true;
  }

  // The node reading `tensor` with op `type` (and `binary` op, for kBinary),
  // when it is `tensor`'s only reader; else -1.
  int OnlyReaderOfType(int tensor, OpType type, kernels::BinaryOp binary = kernels::BinaryOp::kAdd) const {
    const int r = OnlyReader(tensor);
    if (r < 0 || g_.nodes[r].type != type || HasActivation(g_.nodes[r])) return -1;
    if (type == OpType::kBinary && g_.nodes[r].binary_op != binary) return -1;
    return r;
  }

  // litert-torch's softplus: SELECT(GREATER(x, t), x, LOG(ADD(EXP(x), 1)))
  // -> kSoftplus(x) with threshold t; its ELU: SELECT(GREATER_EQUAL(x, 0),
  // x, SUB(EXP(x), 1)) -> kElu(x). The fused op computes the same
  // expression with the same kernels' functions: the same bits.
  void FuseSoftplusAndElu() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& exp = g_.nodes[i];
      if (dead_[i] || exp.type != OpType::kUnary || exp.unary_op != kernels::UnaryOp::kExp || HasActivation(exp)) {
        continue;
      }
      const int x = exp.inputs[0];
      const int reader = OnlyReader(exp.output);
      if (reader < 0 || g_.nodes[reader].type != OpType::kBinary || HasActivation(g_.nodes[reader])) continue;
      const Node& step = g_.nodes[reader];
      float value = 0.0f;
      const bool one = ScalarConstant(step.inputs[step.inputs[0] == exp.output ? 1 : 0], &value) && value == 1.0f;
      const bool add_one = step.binary_op == kernels::BinaryOp::kAdd && one;
      const bool sub_one = step.binary_op == kernels::BinaryOp::kSub && step.inputs[0] == exp.output && one;
      if (!add_one && !sub_one) continue;
      int tail = reader;  // the node whose output the SELECT takes where the condition fails
      if (add_one) {
        tail = OnlyReader(step.output);
        if (tail < 0 || g_.nodes[tail].type != OpType::kUnary || g_.nodes[tail].unary_op != kernels::UnaryOp::kLog ||
            HasActivation(g_.nodes[tail])) {
          continue;
        }
      }
      const int select = OnlyReaderOfType(g_.nodes[tail].output, OpType::kSelect);
      if (select < 0 || g_.nodes[select].inputs[1] != x || g_.nodes[select].inputs[2] != g_.nodes[tail].output) continue;
      const int compare = Producer(g_.nodes[select].inputs[0]);
      if (compare < 0 || OnlyReader(g_.nodes[compare].output) != select) continue;
      const Node& cmp = g_.nodes[compare];
      float threshold = 0.0f;
      if (cmp.type != OpType::kBinary || HasActivation(cmp) || cmp.inputs[0] != x ||
          !ScalarConstant(cmp.inputs[1], &threshold)) {
        continue;
      }
      const bool softplus = add_one && cmp.binary_op == kernels::BinaryOp::kGreater;
      const bool elu = sub_one && cmp.binary_op == kernels::BinaryOp::kGreaterEqual && threshold == 0.0f;
      if (!softplus && !elu) continue;
      Node& out = g_.nodes[select];
      Note(exp, out, softplus ? "softplus" : "ELU");
      out.type = OpType::kUnary;
      out.unary_op = softplus ? kernels::UnaryOp::kSoftplus : kernels::UnaryOp::kElu;
      out.alpha = softplus ? threshold : 0.0f;
      out.inputs = {x};
      out.label += softplus ? "+softplus" : "+ELU";
      dead_[i] = dead_[reader] = dead_[tail] = dead_[compare] = true;
    }
  }

  // MUL(x, TANH(softplus(x))) -> kMish(x).
  void FuseMish() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& softplus = g_.nodes[i];
      if (dead_[i] || softplus.type != OpType::kUnary || softplus.unary_op != kernels::UnaryOp::kSoftplus) continue;
      // kMish takes tanh(x) as 1 past the threshold: true in float from 9.
      if (!(softplus.alpha >= 9.0f)) continue;
      const int x = softplus.inputs[0];
      const int tanh = OnlyReader(softplus.output);
      if (tanh < 0 || g_.nodes[tanh].type != OpType::kUnary || g_.nodes[tanh].unary_op != kernels::UnaryOp::kTanh ||
          HasActivation(g_.nodes[tanh])) {
        continue;
      }
      const int mul = OnlyReaderOfType(g_.nodes[tanh].output, OpType::kBinary, kernels::BinaryOp::kMul);
      if (mul < 0) continue;
      Node& m = g_.nodes[mul];
      const int t = g_.nodes[tanh].output;
      if (!((m.inputs[0] == x && m.inputs[1] == t) || (m.inputs[1] == x && m.inputs[0] == t))) continue;
      Note(softplus, m, "Mish");
      m.type = OpType::kUnary;
      m.unary_op = kernels::UnaryOp::kMish;
      m.alpha = softplus.alpha;
      m.inputs = {x};
      m.label += "+Mish";
      dead_[i] = dead_[tanh] = true;
    }
  }

  // SOFTMAX(MUL(x, c)) or SOFTMAX(DIV(x, c)), c a positive scalar constant
  // (attention's 1 / sqrt(d)), -> SOFTMAX(x) with beta times c (over c):
  // exp((x - max x) * beta * c) for exp((c x - max(c x)) * beta), the
  // scaled tensor, often the largest of an attention block, never written
  // (a diffusion UNet's 2 x 2688 x 2688 scores: 8 ms of 60). Not exact: a
  // rounding of the exponent's argument apart.
  void ScalesIntoSoftmax() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& scale = g_.nodes[i];
      const bool mul = scale.binary_op == kernels::BinaryOp::kMul, div = scale.binary_op == kernels::BinaryOp::kDiv;
      if (dead_[i] || scale.type != OpType::kBinary || !(mul || div) || HasActivation(scale)) continue;
      float c = 0.0f;
      int x = -1;
      if (ScalarConstant(scale.inputs[1], &c)) {
        x = scale.inputs[0];
      } else if (mul && ScalarConstant(scale.inputs[0], &c)) {
        x = scale.inputs[1];
      }
      if (x < 0 || !(c > 0.0f) || !std::isfinite(c) || g_.tensors[x].shape != g_.tensors[scale.output].shape) {
        continue;
      }
      const int reader = OnlyReader(scale.output);
      if (reader < 0) continue;
      Node& softmax = g_.nodes[reader];
      if (softmax.type != OpType::kSoftmax || HasActivation(softmax)) continue;
      const float beta = mul ? softmax.beta * c : softmax.beta / c;
      if (!std::isfinite(beta) || !(beta > 0.0f)) continue;
      Note(scale, softmax, "its beta");
      softmax.beta = beta;
      softmax.inputs = {x};
      dead_[i] = true;
    }
  }

  // BATCH_MATMUL (scores) -> SOFTMAX -> BATCH_MATMUL reading the weights
  // as its left operand (weights x values) or as its right one given
  // adjoint (values x weights^T, as litert-torch writes NCHW attention):
  // one step computing a block of query rows at a time, the scores and the
  // weights never written whole (the same bits).
  void FuseAttention() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i] || g_.nodes[i].type != OpType::kSoftmax || HasActivation(g_.nodes[i])) continue;
      const Node& softmax = g_.nodes[i];
      const int a = Producer(softmax.inputs[0]);
      if (a < 0 || g_.nodes[a].type != OpType::kBatchMatMul || OnlyReader(softmax.inputs[0]) != static_cast<int>(i)) {
        continue;
      }
      const int b = OnlyReader(softmax.output);
      if (b < 0 || g_.nodes[b].type != OpType::kBatchMatMul) continue;
      const Node& scores = g_.nodes[a];
      Node& weighted = g_.nodes[b];
      const bool as_lhs = weighted.inputs[0] == softmax.output && !weighted.adj_x;
      const bool as_rhs = weighted.inputs[1] == softmax.output && weighted.adj_y;
      if (!as_lhs && !as_rhs) continue;
      Node attention;
      attention.type = OpType::kAttention;
      attention.label = scores.label + "+" + softmax.label + "+" + weighted.label;
      attention.adj_x = scores.adj_x;
      attention.adj_y = scores.adj_y;
      attention.beta = softmax.beta;
      attention.attention_transposed = !as_lhs;
      // weights x values: values as the right operand, adjoint as given;
      // (values x weights^T)^T = weights x values^T: values given adjoint
      // unless they were given adjoint.
      attention.attention_adj_v = as_lhs ? weighted.adj_y : !weighted.adj_x;
      attention.inputs = {scores.inputs[0], scores.inputs[1], as_lhs ? weighted.inputs[1] : weighted.inputs[0]};
      attention.output = weighted.output;
      std::string why;  // values broadcast past the scores' batches: left as three steps
      auto shape = [&](int t) -> const Shape& { return g_.tensors[t].shape; };
      if (!AttentionOperator::Fits(shape(attention.inputs[0]), shape(attention.inputs[1]), attention.adj_x,
                                   attention.adj_y, shape(attention.inputs[2]), attention.attention_adj_v,
                                   attention.attention_transposed, shape(attention.output), &why)) {
        continue;
      }
      log_.push_back(scores.label + ", " + softmax.label + " and " + weighted.label + " into attention by row blocks");
      dead_[a] = dead_[i] = true;
      // It runs where the second product ran: the values are ready there.
      weighted = std::move(attention);
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

  // MUL(x, s) -> 1x1 conv, s one factor per channel of x (shape [1, 1, 1, C]
  // or fewer dims; x [1, H, W, C]): the conv reads x and scales its
  // weights by s at every run (a squeeze-excitation's scale). Only where
  // the weights are at most half of x, so that scaling them costs less
  // than the pass over x it replaces: MobileNetV3-Large's 28x28 blocks (120
  // -> 40 channels over 784 pixels), not its 14x14 ones (480 -> 112 over 196:
  // scaling those weights cost more than the MUL; benchmarks/README.md).
  void FoldChannelScales() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& mul = g_.nodes[i];
      if (dead_[i] || mul.type != OpType::kBinary || mul.binary_op != kernels::BinaryOp::kMul || HasActivation(mul)) {
        continue;
      }
      const int p = OnlyReader(mul.output);
      if (p < 0 || !IsPointwise(g_.nodes[p]) || g_.nodes[p].inputs[0] != mul.output) continue;
      Node& conv = g_.nodes[p];
      if (conv.conv.input_scale >= 0) continue;
      const Shape& y = g_.tensors[mul.output].shape;
      if (y.size() != 4 || y[0] != 1) continue;
      for (int side = 0; side < 2; ++side) {
        const int x = mul.inputs[side], scale = mul.inputs[1 - side];
        const Shape& sx = g_.tensors[x].shape;
        const Shape& ss = g_.tensors[scale].shape;
        if (sx != y || x == scale || ss.empty() || ss.back() != y[3] ||
            NumElements(ss) != static_cast<size_t>(y[3])) {
          continue;
        }
        const size_t weights = static_cast<size_t>(y[3]) * g_.tensors[conv.output].shape.back();
        if (2 * weights > NumElements(y)) break;
        Note(mul, conv, "channel scale into its weights");
        conv.inputs[0] = x;
        conv.inputs.push_back(scale);
        conv.conv.input_scale = scale;
        dead_[i] = true;
        break;
      }
    }
  }

  // As a stage of an elementwise chain: a unary op, or a binary op of the
  // running value (`data`, shaped as the output) and a model constant of
  // one value per innermost index or a single value. Else false.
  bool AsChainStage(const Node& node, int data, Node::ChainStage* stage) const {
    stage->lo = node.act_min;
    stage->hi = node.act_max;
    if (node.type == OpType::kUnary) {
      stage->unary = true;
      stage->unary_op = node.unary_op;
      stage->alpha = node.alpha;
      return node.inputs.size() == 1 && node.inputs[0] == data;
    }
    if (node.type != OpType::kBinary || node.inputs.size() != 2) return false;
    const Shape& out = g_.tensors[node.output].shape;
    for (int side = 0; side < 2; ++side) {
      const Tensor& constant = g_.tensors[node.inputs[1 - side]];
      if (node.inputs[side] != data || constant.constant == nullptr || g_.tensors[data].shape != out || out.empty()) {
        continue;
      }
      const size_t n = NumElements(constant.shape);
      const bool per_channel = n == static_cast<size_t>(out.back()) && !constant.shape.empty() &&
                               constant.shape.back() == out.back() && constant.shape.size() <= out.size();
      if (n != 1 && !per_channel) continue;
      stage->unary = false;
      stage->binary_op = node.binary_op;
      stage->constant = constant.constant;
      stage->constant_size = n;
      stage->constant_first = side == 1;
      return true;
    }
    return false;
  }

  // Runs of elementwise ops on one tensor, each op's output read only by
  // the next: one step that applies them in turn to chunks in L1 (a batch
  // norm before a conv, as litert-torch writes it when it cannot fold it
  // into one: SUB, MUL, MUL, ADD(+ReLU), four passes over the tensor).
  void FuseElementwiseChains() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i]) continue;
      // The running value: the first input that makes the op a stage.
      Node::ChainStage first;
      int data = -1;
      for (int input : g_.nodes[i].inputs) {
        if (AsChainStage(g_.nodes[i], input, &first)) {
          data = input;
          break;
        }
      }
      if (data < 0) continue;
      std::vector<Node::ChainStage> stages{first};
      std::vector<int> members{static_cast<int>(i)};
      int output = g_.nodes[i].output;
      for (;;) {
        const int next = OnlyReader(output);
        Node::ChainStage stage;
        if (next < 0 || !AsChainStage(g_.nodes[next], output, &stage)) break;
        stages.push_back(stage);
        members.push_back(next);
        output = g_.nodes[next].output;
      }
      if (stages.size() < 2) continue;
      Node chain;
      chain.type = OpType::kElementwiseChain;
      chain.inputs = {data};
      chain.output = output;
      chain.label = g_.nodes[i].label;
      for (size_t m = 1; m < members.size(); ++m) {
        chain.label += "+" + g_.nodes[members[m]].label;
        Note(g_.nodes[members[m]], g_.nodes[i], "elementwise chain");
        dead_[members[m]] = true;
      }
      chain.stages = std::move(stages);
      // It runs where the first op ran: its input is ready there, and its
      // readers come after the last op.
      g_.nodes[i] = std::move(chain);
    }
  }

  // A CONCATENATION along the last dim read only by a GATHER_ND as its
  // indices (grid_sample's [batch, channel, y, x] tuples from four
  // columns): the gather reads the columns where they are, and the tuples
  // are never written (a 16-byte write and read per tuple).
  void IndexColumnsIntoGathers() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      Node& gather = g_.nodes[i];
      if (dead_[i] || gather.type != OpType::kGatherNd || gather.inputs.size() != 2) continue;
      const int c = Producer(gather.inputs[1]);
      if (c < 0 || OnlyReader(gather.inputs[1]) != static_cast<int>(i)) continue;
      const Node& concat = g_.nodes[c];
      const int rank = static_cast<int>(g_.tensors[concat.output].shape.size());
      if (concat.type != OpType::kConcatenation || concat.axis != rank - 1 || !concat.concat_ranges.empty() ||
          HasActivation(concat)) {
        continue;
      }
      std::vector<int> columns;
      for (int t : concat.inputs) columns.push_back(g_.tensors[t].shape.back());
      gather.inputs.resize(1);
      gather.inputs.insert(gather.inputs.end(), concat.inputs.begin(), concat.inputs.end());
      gather.gather_columns = std::move(columns);
      Note(concat, gather, "index columns");
      dead_[c] = true;
    }
  }

  // An elementwise node over `count` elements: its output of `count`, each
  // input of `count` (then of the output's shape, but for leading 1s) or a
  // single value.
  bool Groupable(const Node& node, size_t* count) const {
    switch (node.type) {
      case OpType::kBinary:
      case OpType::kIntBinary:
      case OpType::kUnary:
      case OpType::kSelect:
      case OpType::kCast:
      case OpType::kReshape:
        break;
      default:
        return false;
    }
    const size_t n = NumElements(g_.tensors[node.output].shape);
    size_t whole = 0;
    for (int t : node.inputs) {
      const size_t m = NumElements(g_.tensors[t].shape);
      if (m != n && m != 1) return false;
      whole += m == n;
    }
    *count = n;
    return whole > 0;
  }

  // Consecutive elementwise nodes over one element count, however they
  // read one another (grid_sample's index arithmetic: 50 ops, each result
  // read by a few of the next): one group, run chunk by chunk with every
  // result in L1; a result is written out only when a node after the group
  // (or the caller) reads it. At most kMaxScratch ops a group, so that its
  // results alive at once always fit the operator's scratch.
  void FuseElementwiseGroups() {
    std::vector<std::vector<int>> readers(g_.tensors.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i]) continue;
      for (int t : g_.nodes[i].inputs) readers[t].push_back(static_cast<int>(i));
    }
    std::vector<int> members;
    size_t count = 0;
    auto close = [&]() {
      if (members.size() >= 2) MakeGroup(members, readers);
      members.clear();
    };
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (dead_[i]) continue;
      size_t n = 0;
      // Tensors of less than a chunk stay in L1 between steps anyway.
      if (!Groupable(g_.nodes[i], &n) || n < ElementwiseGroupOperator::kChunk) {
        close();
        continue;
      }
      if (!members.empty() && (n != count || members.size() == ElementwiseGroupOperator::kMaxScratch)) close();
      count = n;
      members.push_back(static_cast<int>(i));
    }
    close();
  }

  void MakeGroup(const std::vector<int>& members, const std::vector<std::vector<int>>& readers) {
    Node group;
    group.type = OpType::kElementwiseGroup;
    const Node& first = g_.nodes[members.front()];
    const Node& last = g_.nodes[members.back()];
    group.label = first.label + ".." + last.label;
    std::vector<bool> made(g_.tensors.size(), false);
    for (int m : members) {
      const Node& node = g_.nodes[m];
      for (int t : node.inputs) {
        if (!made[t] && std::find(group.inputs.begin(), group.inputs.end(), t) == group.inputs.end()) {
          group.inputs.push_back(t);
        }
      }
      made[node.output] = true;
      bool read_after = g_.tensors[node.output].external;
      for (int r : readers[node.output]) {
        read_after |= std::find(members.begin(), members.end(), r) == members.end();
      }
      if (read_after) group.group_outputs.push_back(node.output);
      group.chain.push_back(node);
    }
    if (group.group_outputs.empty()) return;  // nothing read: RemoveUnread's business
    group.output = group.group_outputs.back();
    log_.push_back(std::to_string(members.size()) + " elementwise ops " + group.label + " into one group (" +
                   std::to_string(group.group_outputs.size()) + " written)");
    for (size_t k = 0; k + 1 < members.size(); ++k) dead_[members[k]] = true;
    // It runs where the last op ran: every input is ready there, and every
    // reader comes after it.
    g_.nodes[members.back()] = std::move(group);
  }

  static bool IsPointwise(const Node& node) {
    const Node::Conv& c = node.conv;
    return node.type == OpType::kConv2D && c.kernel_height == 1 && c.kernel_width == 1 &&
           c.stride_height == 1 && c.stride_width == 1 && c.groups == 1 && c.padding_top == 0 &&
           c.padding_left == 0;
  }

  void FuseInvertedResiduals() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      // The first conv may be any (MobileNet's stem is 3x3, stride 2): its
      // rows go to the ring whatever computes them.
      if (dead_[i] || g_.nodes[i].type != OpType::kConv2D) continue;
      const Node& expand = g_.nodes[i];
      const int d = OnlyReader(expand.output);
      if (d < 0 || g_.nodes[d].type != OpType::kDepthwiseConv2D || g_.nodes[d].inputs[0] != expand.output) continue;
      const Node& depthwise = g_.nodes[d];
      const int p = OnlyReader(depthwise.output);
      if (p < 0 || !IsPointwise(g_.nodes[p]) || g_.nodes[p].inputs[0] != depthwise.output) continue;
      // Banded steps do not scale channels.
      if (expand.conv.input_scale >= 0 || g_.nodes[p].conv.input_scale >= 0) continue;
      const Shape& mid = g_.tensors[expand.output].shape;
      if (mid.size() != 4 || NumElements(mid) * sizeof(float) < options_.min_banded_bytes) continue;
      Node& project = g_.nodes[p];
      Node banded;
      banded.type = OpType::kBandedConvs;
      banded.label = expand.label + "+" + depthwise.label + "+" + project.label;
      banded.chain = {expand, depthwise, project};
      // Everything the three read from outside the chain.
      for (const Node& conv : banded.chain) {
        for (int t : conv.inputs) {
          if (t != expand.output && t != depthwise.output) banded.inputs.push_back(t);
        }
      }
      banded.output = project.output;
      log_.push_back(expand.label + ", " + depthwise.label + " and " + project.label + " into bands");
      dead_[i] = dead_[d] = true;
      project = std::move(banded);  // runs where the last of the three ran
    }
  }

  Graph& g_;
  const FusionOptions options_;
  std::vector<bool> dead_;
  std::vector<std::string> log_;
  std::vector<std::pair<size_t, Node>> pending_;  // nodes to insert before the given index
};

}  // namespace

std::vector<std::string> FuseGraph(Graph* graph, const FusionOptions& options) {
  return Fuser(graph, options).Run();
}

}  // namespace graph
}  // namespace actsparse
