#include "delegate/graph/plan.h"

#include "delegate/operator/conv3d.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

#include "delegate/graph/fusion.h"
#include "delegate/operator/elementwise.h"
#include "delegate/operator/layout.h"
#include "delegate/operator/matmul.h"
#include "delegate/operator/pooling.h"
#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/transpose_conv.h"

namespace actsparse {
namespace graph {

// One planned operator: reads and writes tensors by id through the pointer
// table of the current run. A step whose run can fail on the values it
// reads (an index out of range) sets `error`; the plan stops there.
class Step {
 public:
  virtual ~Step() = default;
  virtual void Run(const std::vector<float*>& t, ThreadPool* pool) = 0;
  std::string error;
};

namespace {

constexpr size_t kNotInArena = std::numeric_limits<size_t>::max();
constexpr size_t kArenaAlignFloats = 16;  // 64 bytes: a cache line

// An internal tensor's floats in the arena: alive from step `first` to
// step `last`; `offset` is what PlaceArenaBlocks chose.
struct ArenaBlock {
  size_t floats, first, last, offset;
  int root;
};

// Offsets for `blocks` (largest first), no two blocks alive at the same
// step overlapping; returns the arena's size in floats.
// One thread: first fit, each block at the lowest offset that is free
// through its life.
// Several threads (`centred`): each block's middle on one of a few centres,
// the first centre it fits around, else a new one past the blocks placed so
// far. The steps split their rows (or segments of rows) between the threads
// in order, so with two threads a tensor's first half is written on one
// core and its second half on the other: centred, every line of the arena
// is written by the same core whichever tensor holds it. A line the other
// core wrote last must be fetched from that core's cache before it can be
// written: MobileNetV2's 14x14x576 depthwise conv, 25 -> 17 us at 2 threads,
// and the sum of all steps' best times -2.5% (MobileNetV2 and
// MobileNetV3-Large dense, MobileNetV2 every conv masked s=0.3; ResNet-18
// s=0.3 -1.4%), measured at 2 threads on an Intel Xeon VM; the arena grows
// (MobileNetV2 1372 -> 1568 KB, ResNet-18 3920 -> 4704 KB). With more
// threads only the middle split is kept: not measured.
size_t PlaceArenaBlocks(std::vector<ArenaBlock>* blocks, bool centred) {
  std::stable_sort(blocks->begin(), blocks->end(),
                   [](const ArenaBlock& a, const ArenaBlock& b) { return a.floats > b.floats; });
  auto alive_together = [](const ArenaBlock& a, const ArenaBlock& b) {
    return a.first <= b.last && b.first <= a.last;
  };
  size_t arena_floats = 0;
  std::vector<size_t> centres;
  for (size_t i = 0; i < blocks->size(); ++i) {
    ArenaBlock& block = (*blocks)[i];
    // [begin, end) of the blocks placed so far that are alive with this one.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t j = 0; j < i; ++j) {
      const ArenaBlock& other = (*blocks)[j];
      if (alive_together(block, other)) busy.emplace_back(other.offset, other.offset + other.floats);
    }
    auto free_at = [&](size_t offset) {
      for (const auto& range : busy) {
        if (offset < range.second && range.first < offset + block.floats) return false;
      }
      return true;
    };
    if (centred) {
      const size_t half = block.floats / 2 / kArenaAlignFloats * kArenaAlignFloats;
      bool placed = false;
      for (size_t centre : centres) {
        if (centre >= half && free_at(centre - half)) {
          block.offset = centre - half;
          placed = true;
          break;
        }
      }
      if (!placed) {
        block.offset = arena_floats;
        centres.push_back(arena_floats + half);
      }
    } else {
      std::sort(busy.begin(), busy.end());
      size_t offset = 0;
      for (const auto& range : busy) {
        if (offset + block.floats <= range.first) break;
        offset = std::max(offset, range.second);
      }
      block.offset = offset;
    }
    arena_floats = std::max(arena_floats, block.offset + block.floats);
  }
  return arena_floats;
}

class ConvStep : public Step {
 public:
  // `scale`: a tensor of input-channel factors (Node::Conv::input_scale), or -1.
  ConvStep(std::unique_ptr<SparseConvOperator> op, int input, int output, int residual, int scale)
      : op_(std::move(op)), input_(input), output_(output), residual_(residual), scale_(scale) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override {
    if (scale_ >= 0) op_->SetInputScale(t[scale_], pool);
    op_->Run(t[input_], t[output_], pool, residual_ >= 0 ? t[residual_] : nullptr);
  }

 private:
  std::unique_ptr<SparseConvOperator> op_;
  int input_, output_, residual_, scale_;
};

class GatherNdStep : public Step {
 public:
  GatherNdStep(std::unique_ptr<GatherNdOperator> op, int params, std::vector<int> indices, int out)
      : op_(std::move(op)), params_(params), indices_(std::move(indices)), out_(out), pointers_(indices_.size()) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override {
    error.clear();
    for (size_t i = 0; i < indices_.size(); ++i) pointers_[i] = t[indices_[i]];
    op_->Run(t[params_], pointers_.data(), t[out_], pool, &error);
  }

 private:
  std::unique_ptr<GatherNdOperator> op_;
  int params_;
  std::vector<int> indices_;
  int out_;
  std::vector<const float*> pointers_;
};

// Every operator with Run(const float*, const float*, float*, ThreadPool*):
// a binary op, a batch matmul.
template <class Op>
class TwoInputStep : public Step {
 public:
  TwoInputStep(std::unique_ptr<Op> op, const std::vector<int>& inputs, int out)
      : op_(std::move(op)), a_(inputs[0]), b_(inputs[1]), out_(out) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override { op_->Run(t[a_], t[b_], t[out_], pool); }

 private:
  std::unique_ptr<Op> op_;
  int a_, b_, out_;
};

// Every operator with Run(const float*, const float*, const float*,
// float*, ThreadPool*): a select (condition, values), attention (queries,
// keys, values).
template <class Op>
class ThreeInputStep : public Step {
 public:
  ThreeInputStep(std::unique_ptr<Op> op, const std::vector<int>& inputs, int out)
      : op_(std::move(op)), a_(inputs[0]), b_(inputs[1]), c_(inputs[2]), out_(out) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override {
    op_->Run(t[a_], t[b_], t[c_], t[out_], pool);
  }

 private:
  std::unique_ptr<Op> op_;
  int a_, b_, c_, out_;
};

// Every single-input operator with Run(const float*, float*, ThreadPool*).
template <class Op>
class UnaryStep : public Step {
 public:
  UnaryStep(std::unique_ptr<Op> op, int in, int out) : op_(std::move(op)), in_(in), out_(out) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override { op_->Run(t[in_], t[out_], pool); }

 private:
  std::unique_ptr<Op> op_;
  int in_, out_;
};

template <class Op>
std::unique_ptr<Step> MakeUnaryStep(std::unique_ptr<Op> op, const Node& node) {
  if (op == nullptr) return nullptr;
  return std::make_unique<UnaryStep<Op>>(std::move(op), node.inputs[0], node.output);
}

class ConcatStep : public Step {
 public:
  ConcatStep(std::unique_ptr<ConcatOperator> op, std::vector<int> inputs, int out)
      : op_(std::move(op)), inputs_(std::move(inputs)), out_(out), pointers_(inputs_.size()) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override {
    for (size_t i = 0; i < inputs_.size(); ++i) pointers_[i] = t[inputs_[i]];
    op_->Run(pointers_.data(), t[out_], pool);
  }

 private:
  std::unique_ptr<ConcatOperator> op_;
  std::vector<int> inputs_;
  int out_;
  std::vector<const float*> pointers_;
};

class ElementwiseGroupStep : public Step {
 public:
  ElementwiseGroupStep(std::unique_ptr<ElementwiseGroupOperator> op, std::vector<int> inputs, std::vector<int> outputs)
      : op_(std::move(op)), inputs_(std::move(inputs)), outputs_(std::move(outputs)),
        in_(inputs_.size()), out_(outputs_.size()) {}
  void Run(const std::vector<float*>& t, ThreadPool* pool) override {
    for (size_t i = 0; i < inputs_.size(); ++i) in_[i] = t[inputs_[i]];
    for (size_t i = 0; i < outputs_.size(); ++i) out_[i] = t[outputs_[i]];
    op_->Run(in_.data(), out_.data(), pool);
  }

 private:
  std::unique_ptr<ElementwiseGroupOperator> op_;
  std::vector<int> inputs_, outputs_;
  std::vector<const float*> in_;
  std::vector<float*> out_;
};

// A reshape whose output shares its input's floats: nothing to do.
class NoStep : public Step {
 public:
  void Run(const std::vector<float*>& /*t*/, ThreadPool* /*pool*/) override {}
};

// A 1x1 conv, a depthwise conv and a 1x1 conv run a band of output rows at a
// time: the first writes the rows the depthwise needs into a ring, the
// depthwise writes its band into a second ring, the last reads it and writes
// the output. The rings are a few rows each, so the two intermediate tensors
// stay in L2 and are never written to memory whole.
//
// With several threads, the output rows are cut into segments (two per
// thread) that the pool hands out as tasks; a task runs its segment's bands
// on one thread through a lane: its own copy of the three operators (they
// keep per-input indirection) and its own rings. The first conv's rows that
// two segments both need (the depthwise window's overlap) are computed by
// both. No synchronisation inside the block, and a slow thread's segments
// are taken by the other.
class BandedConvStep : public Step {
 public:
  struct Stage {
    std::unique_ptr<SparseConvOperator> op;
    int residual;  // tensor id, or -1
  };
  using Lane = std::vector<Stage>;  // the three stages

  // `lanes`: one per thread of the pool the plan runs on (one: the pool splits each call).
  BandedConvStep(std::vector<Lane> lanes, int input, int output) : input_(input), output_(output) {
    const SparseConvParams& expand = lanes[0][0].op->params();
    const SparseConvParams& depthwise = lanes[0][1].op->params();
    const SparseConvParams& project = lanes[0][2].op->params();
    stride_ = depthwise.stride_height;
    pad_top_ = depthwise.padding_top;
    window_ = depthwise.dilation_height * (depthwise.kernel_height - 1) + 1;
    // Output rows per band: as many as keep both rings within kRingBytes.
    const size_t row1 = static_cast<size_t>(expand.output_width) * expand.output_channels;
    const size_t row2 = static_cast<size_t>(depthwise.output_width) * depthwise.output_channels;
    band_ = 1;
    while (band_ < depthwise.output_height &&
           RingBytes(band_ + 1, row1, row2) * static_cast<size_t>(expand.batch) <= kRingBytes) {
      ++band_;
    }
    ring1_rows_ = (band_ - 1) * stride_ + window_;
    const PixelLayout ring1{row1, static_cast<size_t>(ring1_rows_), ring1_rows_ * row1};
    const PixelLayout ring2{row2, static_cast<size_t>(band_), band_ * row2};
    lanes_.resize(lanes.size());
    for (size_t l = 0; l < lanes.size(); ++l) {
      LaneState& lane = lanes_[l];
      lane.stages = std::move(lanes[l]);
      lane.ring1.assign(expand.batch * ring1.image_stride, 0.0f);
      lane.ring2.assign(expand.batch * ring2.image_stride, 0.0f);
      lane.stages[0].op->SetLayouts(
          PixelLayout::Dense(expand.input_height, expand.input_width, expand.input_channels), ring1);
      lane.stages[1].op->SetLayouts(ring1, ring2);
      lane.stages[2].op->SetLayouts(
          ring2, PixelLayout::Dense(project.output_height, project.output_width, project.output_channels));
    }
    busy_ = std::make_unique<std::atomic<bool>[]>(lanes_.size());
    for (size_t l = 0; l < lanes_.size(); ++l) busy_[l].store(false);
    // Segments of at least two bands, kSegmentsPerThread per thread.
    const int height2 = depthwise.output_height;
    const int by_threads = static_cast<int>(lanes_.size()) * kSegmentsPerThread;
    segments_ = lanes_.size() <= 1 ? 1 : std::max(1, std::min(by_threads, height2 / (2 * band_)));
  }

  void Run(const std::vector<float*>& t, ThreadPool* pool) override {
    const int height2 = lanes_[0].stages[1].op->params().output_height;
    if (segments_ <= 1 || pool == nullptr || pool->num_threads() <= 1) {
      // One lane (or too few rows for segments): the pool splits each band's ops.
      RunSegment(lanes_[0], t, pool, 0, height2);
      return;
    }
    // Guided segments (see ThreadPool::GuidedOrEqualChunkStart): equal ones left
    // the other thread waiting for up to a segment, a tenth of the step.
    const size_t threads = static_cast<size_t>(pool->num_threads()), segments = static_cast<size_t>(segments_);
    auto segment_start = [&](size_t segment) {
      return static_cast<int>(ThreadPool::GuidedOrEqualChunkStart(segment, segments, threads, height2));
    };
    pool->ParallelFor(segments, [&](size_t segment) {
      const int first = segment_start(segment), end = segment_start(segment + 1);
      if (first >= end) return;
      // At most one task per thread runs at a time, so a lane is free.
      size_t l = 0;
      for (;; l = (l + 1) % lanes_.size()) {
        bool expected = false;
        if (busy_[l].compare_exchange_weak(expected, true, std::memory_order_acquire)) break;
      }
      RunSegment(lanes_[l], t, nullptr, first, end);
      busy_[l].store(false, std::memory_order_release);
    });
  }

 private:
  struct LaneState {
    Lane stages;
    AlignedFloats ring1, ring2;
  };

  // Output rows [row0, row_end) band by band; `pool` splits each call (one lane only).
  void RunSegment(LaneState& lane, const std::vector<float*>& t, ThreadPool* pool, int row0, int row_end) {
    const int height1 = lane.stages[0].op->params().output_height;
    auto residual = [&](const Stage& stage) { return stage.residual >= 0 ? t[stage.residual] : nullptr; };
    int produced = std::max(0, row0 * stride_ - pad_top_);  // first-conv rows in the ring so far
    for (int first = row0; first < row_end; first += band_) {
      const int end = std::min(first + band_, row_end);
      const int needed = std::min(height1, (end - 1) * stride_ - pad_top_ + window_);
      if (needed > produced) {
        lane.stages[0].op->RunRows(t[input_], lane.ring1.data(), pool, residual(lane.stages[0]), produced, needed);
        produced = needed;
      }
      lane.stages[1].op->RunRows(lane.ring1.data(), lane.ring2.data(), pool, residual(lane.stages[1]), first, end);
      lane.stages[2].op->RunRows(lane.ring2.data(), t[output_], pool, residual(lane.stages[2]), first, end);
    }
  }

  // Both rings' floats per image for `band` output rows, in bytes.
  size_t RingBytes(int band, size_t row1, size_t row2) const {
    return (static_cast<size_t>((band - 1) * stride_ + window_) * row1 + static_cast<size_t>(band) * row2) *
           sizeof(float);
  }

  // Half of a 512 KB L2 (the smallest here, Zen 3's): room for the weights
  // and the block's input rows beside the rings.
  static constexpr size_t kRingBytes = 256 * 1024;
  // Segments per lane, guided (2:1). Each segment computes its first
  // rows' halo of the first conv again: MobileNetV2 at 2 threads, one
  // process, against 4: 2 per lane +2.2-2.3% (1: +2.6-4.2%, 3: +2.3-3.1%,
  // 6 and 8: +0-0.6%), every conv masked +1.6-2.6%, MobileNetV3-Large
  // +-0.4%. Two keep something to steal from a slowed thread.
  static constexpr int kSegmentsPerThread = 2;
  std::vector<LaneState> lanes_;
  std::unique_ptr<std::atomic<bool>[]> busy_;
  int input_, output_;
  int stride_ = 1, pad_top_ = 0, window_ = 1, band_ = 1, ring1_rows_ = 1, segments_ = 1;
};

OutputStage ToOutputStage(const Node::Stage& stage) {
  OutputStage out;
  out.residual = stage.residual;
  out.residual_lo = stage.residual_min;
  out.residual_hi = stage.residual_max;
  out.unary = stage.unary;
  out.unary_op = stage.unary_op;
  out.unary_params = stage.unary_params;
  return out;
}

std::string DimsTail(const Shape& shape) {
  int d[3] = {1, 1, 1};
  for (size_t i = 0; i < 3 && i < shape.size(); ++i) d[2 - i] = shape[shape.size() - 1 - i];
  return std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" + std::to_string(d[2]);
}

// A masked conv whose every reader is a conv reading through pointers
// (not kernel rows whole) need not write its masked pixels: they all hold
// one value, and the readers' pointers for them go to that value instead.
// Saves the writes (and the readers' reads) of the masked share of the
// tensor; the largest tensors of an inverted residual are the ones masked.
// `producers`: the copies of one operator (lanes); all alike, so the first
// one's mask and value serve every reader.
bool ElideMaskedOutputs(const std::vector<SparseConvOperator*>& producers,
                        const std::vector<SparseConvOperator*>& readers) {
  SparseConvOperator* producer = producers.front();
  if (!producer->has_uniform_masked_value() || readers.empty()) return false;
  const SparseConvParams& out = producer->params();
  for (const SparseConvOperator* reader : readers) {
    const SparseConvParams& in = reader->params();
    if (!reader->can_read_masked_input() || in.batch != out.batch || in.input_height != out.output_height ||
        in.input_width != out.output_width || in.input_channels != out.output_channels) {
      return false;
    }
  }
  const std::vector<uint8_t> mask = producer->OutputMask();
  for (SparseConvOperator* reader : readers) reader->ReadMaskedInput(mask, producer->masked_output_value());
  for (SparseConvOperator* copy : producers) copy->SkipMaskedOutputs();
  return true;
}

bool ElideMaskedOutputs(SparseConvOperator* producer, const std::vector<SparseConvOperator*>& readers) {
  return ElideMaskedOutputs(std::vector<SparseConvOperator*>{producer}, readers);
}

}  // namespace

Pool2DParams PoolParams(const Node& node, const Shape& in, const Shape& out) {
  Pool2DParams p;
  p.op = node.type == OpType::kMaxPool2D       ? kernels::PoolOp::kMax
         : node.type == OpType::kAveragePool2D ? kernels::PoolOp::kAverage
                                               : kernels::PoolOp::kSum;
  // The input seen as NHWC: the dims before the pooled ones as the batch,
  // those after as the channels.
  const int h = node.pool.height_axis, w = node.pool.width_axis, last = w < 0 ? h : w;
  p.batch = 1;
  p.channels = 1;
  for (int d = 0; d < static_cast<int>(in.size()); ++d) {
    if (d < h) p.batch *= in[d];
    if (d > last) p.channels *= in[d];
  }
  p.input_height = in[h];
  p.input_width = w < 0 ? 1 : in[w];
  p.output_height = out[h];
  p.output_width = w < 0 ? 1 : out[w];
  p.filter_height = node.pool.filter_height;
  p.filter_width = node.pool.filter_width;
  p.stride_height = node.pool.stride_height;
  p.stride_width = node.pool.stride_width;
  p.padding_top = node.pool.padding_top;
  p.padding_left = node.pool.padding_left;
  p.output_min = node.act_min;
  p.output_max = node.act_max;
  return p;
}

namespace {

class StepBuilder {
 public:
  StepBuilder(const Graph& graph, const std::vector<bool>& aliased, int num_threads)
      : g_(graph), aliased_(aliased), num_threads_(num_threads) {}

  // Every conv operator built (with its copies, one per lane, in banded
  // steps), with the tensors it reads and writes (-1: a ring inside the
  // step), for ElideMaskedOutputs.
  struct ConvUse {
    std::vector<SparseConvOperator*> ops;
    int input, output, residual;
    std::string label;
  };
  std::vector<ConvUse> conv_uses;
  std::vector<std::string> notes;  // masked outputs elided inside banded steps

  std::unique_ptr<Step> Build(const Node& node, std::string* error) {
    error_ = error;
    const Shape& in = g_.tensors[node.inputs[0]].shape;
    const Shape& out = g_.tensors[node.output].shape;
    switch (node.type) {
      case OpType::kConv2D:
      case OpType::kDepthwiseConv2D:
        return Conv(node, in, out);
      case OpType::kFullyConnected:
        return FullyConnected(node, in, out);
      case OpType::kTransposeConv:
        return TransposeConv(node, in, out);
      case OpType::kBinary:
      case OpType::kIntBinary: {
        if (node.inputs.size() != 2) return Fail("a binary op needs two inputs");
        auto op = BinaryOperator::Create(node.binary_op, in, g_.tensors[node.inputs[1]].shape, out, node.act_min,
                                         node.act_max, error);
        if (op == nullptr) return nullptr;
        return std::make_unique<TwoInputStep<BinaryOperator>>(std::move(op), node.inputs, node.output);
      }
      case OpType::kUnary: {
        if (NumElements(in) != NumElements(out)) return Fail("input and output sizes differ");
        kernels::UnaryParams params;
        params.alpha = node.alpha;
        params.lo = node.act_min;
        params.hi = node.act_max;
        return MakeUnaryStep(UnaryOperator::Create(node.unary_op, NumElements(out), params), node);
      }
      case OpType::kMaxPool2D:
      case OpType::kAveragePool2D:
      case OpType::kSumPool2D:
        return Pool(node, in, out);
      case OpType::kMean:
        return Mean(node, in, out);
      case OpType::kPad: {
        auto op = PadOperator::Create(in, node.paddings, node.pad_value, error, node.pad_mode);
        if (op && op->output_shape() != out) return Fail("padded shape differs from " + ShapeText(out));
        return MakeUnaryStep(std::move(op), node);
      }
      case OpType::kReshape:
        if (NumElements(in) != NumElements(out)) return Fail("reshape changes the number of elements");
        if (aliased_[node.output]) return std::make_unique<NoStep>();
        return MakeUnaryStep(std::make_unique<CopyOperator>(NumElements(out)), node);
      case OpType::kTranspose: {
        Shape permuted;
        for (int axis : node.axes) permuted.push_back(axis >= 0 && axis < static_cast<int>(in.size()) ? in[axis] : -1);
        if (permuted != out) return Fail("transposed shape differs from " + ShapeText(out));
        return MakeUnaryStep(TransposeOperator::Create(in, node.axes, error), node);
      }
      case OpType::kSlice:
        return MakeUnaryStep(SliceOperator::Create(in, node.begin, out, error), node);
      case OpType::kBroadcastTo:
        return MakeUnaryStep(BroadcastOperator::Create(in, out, error), node);
      case OpType::kStridedSlice:
        return MakeUnaryStep(StridedSliceOperator::Create(in, node.begin, node.strides, out, error), node);
      case OpType::kConv3D: {
        if (in.size() != 5 || out.size() != 5 || in[0] != out[0]) return Fail("conv3d needs NDHWC input and output");
        const Node::Conv& c = node.conv;
        Conv3DParams p;
        p.plane = PlaneParams(node, {1, in[2], in[3], in[4]}, {1, out[2], out[3], out[4]});
        p.batch = in[0];
        p.input_depth = in[1];
        p.output_depth = out[1];
        p.kernel_depth = c.kernel_depth;
        p.stride_depth = c.stride_depth;
        p.dilation_depth = c.dilation_depth;
        p.padding_front = c.padding_front;
        return MakeUnaryStep(Conv3DOperator::Create(p, c.weights, c.bias, error), node);
      }
      case OpType::kCumsum:
        if (in != out) return Fail("cumsum changes the shape");
        return MakeUnaryStep(CumsumOperator::Create(in, node.axis, node.cumsum_exclusive, node.cumsum_reverse, error),
                             node);
      case OpType::kArgReduce: {
        Shape expected = in;
        if (node.axis >= 0 && node.axis < static_cast<int>(in.size())) expected.erase(expected.begin() + node.axis);
        if (expected != out) return Fail("arg reduction output " + ShapeText(out) + " is not the input without its axis");
        return MakeUnaryStep(ArgReduceOperator::Create(in, node.axis, node.reduction == Reduction::kMax, error), node);
      }
      case OpType::kGather:
        return MakeUnaryStep(GatherOperator::Create(NumElements(in), node.gather_offsets, NumElements(out), error),
                             node);
      case OpType::kGatherNd: {
        if (node.inputs.size() < 2) return Fail("gather_nd needs params and indices");
        // The tuples' shape: the first index tensor's, its last dim all k columns.
        Shape tuples = g_.tensors[node.inputs[1]].shape;
        if (!node.gather_columns.empty() && !tuples.empty()) {
          tuples.back() = 0;
          for (int c : node.gather_columns) tuples.back() += c;
        }
        auto op = GatherNdOperator::Create(in, tuples, out, error, node.gather_columns);
        if (op == nullptr) return nullptr;
        return std::make_unique<GatherNdStep>(std::move(op), node.inputs[0],
                                              std::vector<int>(node.inputs.begin() + 1, node.inputs.end()),
                                              node.output);
      }
      case OpType::kCast:
        if (NumElements(in) != NumElements(out)) return Fail("cast changes the number of elements");
        return MakeUnaryStep(std::make_unique<ConvertOperator>(NumElements(out), node.cast_to == DataType::kInt32),
                             node);
      case OpType::kElementwiseChain: {
        if (in != out || out.empty()) return Fail("elementwise chain changes the shape");
        const size_t channels = static_cast<size_t>(out.back());
        std::vector<ElementwiseStage> stages;
        for (const Node::ChainStage& s : node.stages) {
          ElementwiseStage stage;
          stage.unary = s.unary;
          stage.unary_op = s.unary_op;
          stage.params.alpha = s.alpha;
          stage.params.lo = s.lo;
          stage.params.hi = s.hi;
          stage.binary_op = s.binary_op;
          stage.operand_first = s.constant_first;
          if (!s.unary) {
            if (s.constant == nullptr || (s.constant_size != 1 && s.constant_size != channels)) {
              return Fail("elementwise chain: a constant of " + std::to_string(s.constant_size) + " floats");
            }
            for (size_t c = 0; c < channels; ++c) stage.operand.push_back(s.constant[s.constant_size == 1 ? 0 : c]);
          }
          stages.push_back(std::move(stage));
        }
        return MakeUnaryStep(ElementwiseChainOperator::Create(std::move(stages), NumElements(out), channels, error),
                             node);
      }
      case OpType::kConcatenation: {
        std::vector<Shape> shapes;
        for (int t : node.inputs) shapes.push_back(g_.tensors[t].shape);
        auto op = ConcatOperator::Create(shapes, node.axis, node.act_min, node.act_max, error, node.concat_ranges);
        if (op == nullptr) return nullptr;
        if (op->output_shape() != out) return Fail("concatenated shape differs from " + ShapeText(out));
        return std::make_unique<ConcatStep>(std::move(op), node.inputs, node.output);
      }
      case OpType::kResizeNearest:
      case OpType::kResizeBilinear: {
        if (out.size() != 4 || in.size() != 4 || out[0] != in[0] || out[3] != in[3]) {
          return Fail("resize from " + ShapeText(in) + " to " + ShapeText(out) + " changes batch or channels");
        }
        if (node.type == OpType::kResizeBilinear) {
          return MakeUnaryStep(
              ResizeBilinearOperator::Create(in, out[1], out[2], node.align_corners, node.half_pixel_centers, error),
              node);
        }
        return MakeUnaryStep(
            ResizeNearestOperator::Create(in, out[1], out[2], node.align_corners, node.half_pixel_centers, error),
            node);
      }
      case OpType::kBandedConvs:
        return Banded(node);
      case OpType::kElementwiseGroup:
        return ElementwiseGroup(node);
      case OpType::kSelect: {
        if (node.inputs.size() != 3) return Fail("a select needs three inputs");
        std::vector<Shape> shapes;
        std::vector<const float*> constants;
        for (int input : node.inputs) {
          shapes.push_back(g_.tensors[input].shape);
          constants.push_back(g_.tensors[input].constant);
        }
        auto op = SelectOperator::Create(shapes, out, constants, error);
        if (op == nullptr) return nullptr;
        return std::make_unique<ThreeInputStep<SelectOperator>>(std::move(op), node.inputs, node.output);
      }
      case OpType::kBatchMatMul: {
        if (node.inputs.size() != 2) return Fail("a batch matmul needs two inputs");
        const Tensor& rhs = g_.tensors[node.inputs[1]];
        auto op = MatMulOperator::Create(in, rhs.shape, node.adj_x, node.adj_y, out, rhs.constant, error);
        if (op == nullptr) return nullptr;
        return std::make_unique<TwoInputStep<MatMulOperator>>(std::move(op), node.inputs, node.output);
      }
      case OpType::kAttention: {
        if (node.inputs.size() != 3) return Fail("attention needs queries, keys and values");
        auto op = AttentionOperator::Create(in, g_.tensors[node.inputs[1]].shape, node.adj_x, node.adj_y,
                                            g_.tensors[node.inputs[2]].shape, node.attention_adj_v,
                                            node.attention_transposed, node.beta, out, error);
        if (op == nullptr) return nullptr;
        return std::make_unique<ThreeInputStep<AttentionOperator>>(std::move(op), node.inputs, node.output);
      }
      case OpType::kL2Normalization: {
        if (in != out || in.empty()) return Fail("L2 normalization changes the shape");
        if (node.act_min > kNoMin || node.act_max < kNoMax) return Fail("L2 normalization with an activation");
        const size_t row = static_cast<size_t>(in.back());
        return MakeUnaryStep(std::make_unique<L2NormalizationOperator>(NumElements(in) / row, row), node);
      }
      case OpType::kSoftmax: {
        if (in != out || in.empty()) return Fail("softmax changes the shape");
        const size_t row = static_cast<size_t>(in.back());
        return MakeUnaryStep(SoftmaxOperator::Create(NumElements(in) / row, row, node.beta), node);
      }
    }
    return Fail("unknown op");
  }

 private:
  std::unique_ptr<Step> Fail(const std::string& message) {
    *error_ = message;
    return nullptr;
  }

  // The operator of a conv node reading `in` and writing `out` (null, error set, if it cannot be made).
  // A conv node's 2-D parameters over NHWC shapes `in` and `out` (a 3-D
  // conv's: one plane, batch 1).
  static SparseConvParams PlaneParams(const Node& node, const Shape& in, const Shape& out) {
    const Node::Conv& c = node.conv;
    SparseConvParams p;
    p.batch = in[0];
    p.input_height = in[1];
    p.input_width = in[2];
    p.input_channels = in[3];
    p.output_height = out[1];
    p.output_width = out[2];
    p.output_channels = out[3];
    p.kernel_height = c.kernel_height;
    p.kernel_width = c.kernel_width;
    p.stride_height = c.stride_height;
    p.stride_width = c.stride_width;
    p.dilation_height = c.dilation_height;
    p.dilation_width = c.dilation_width;
    p.padding_top = c.padding_top;
    p.padding_left = c.padding_left;
    p.depthwise = node.type == OpType::kDepthwiseConv2D;
    p.depth_multiplier = c.depth_multiplier;
    p.groups = c.groups;
    p.output_min = node.act_min;
    p.output_max = node.act_max;
    return p;
  }

  std::unique_ptr<SparseConvOperator> ConvOperator(const Node& node, const Shape& in, const Shape& out) {
    if (in.size() != 4 || out.size() != 4 || in[0] != out[0]) {
      *error_ = "conv input " + ShapeText(in) + " and output " + ShapeText(out) + " are not NHWC of one batch";
      return nullptr;
    }
    const Node::Conv& c = node.conv;
    const SparseConvParams p = PlaneParams(node, in, out);
    if (!c.mask.empty() && c.mask.size() != static_cast<size_t>(out[1]) * out[2]) {
      *error_ = "mask of " + std::to_string(c.mask.size()) + " pixels for an output of " + ShapeText(out);
      return nullptr;
    }
    const size_t scale_inputs = c.input_scale >= 0 ? 1 : 0;
    if (node.stage.residual && (node.inputs.size() != 2 + scale_inputs || g_.tensors[node.inputs[1]].shape != out)) {
      *error_ = "residual operand does not have the output's shape";
      return nullptr;
    }
    if (c.input_scale >= 0 && (node.inputs.back() != c.input_scale ||
                               NumElements(g_.tensors[c.input_scale].shape) != static_cast<size_t>(in[3]))) {
      *error_ = "channel scale " + ShapeText(g_.tensors[c.input_scale].shape) + " for an input of " + ShapeText(in);
      return nullptr;
    }
    return SparseConvOperator::Create(p, c.weights, c.bias, c.mask_add_bias, c.mask.empty() ? nullptr : c.mask.data(),
                                      error_, ToOutputStage(node.stage));
  }

  std::unique_ptr<Step> Conv(const Node& node, const Shape& in, const Shape& out) {
    auto op = ConvOperator(node, in, out);
    if (op == nullptr) return nullptr;
    if (node.conv.input_scale >= 0 && !op->TakesInputScale()) return Fail("a channel scale on a conv that is not 1x1");
    op->set_planned_threads(std::max(1, num_threads_));
    const int residual = node.stage.residual ? node.inputs[1] : -1;
    conv_uses.push_back({{op.get()}, node.inputs[0], node.output, residual, node.label});
    return std::make_unique<ConvStep>(std::move(op), node.inputs[0], node.output, residual, node.conv.input_scale);
  }

  std::unique_ptr<Step> Banded(const Node& node) {
    // One lane per thread when several threads run the segments (see BandedConvStep).
    const int num_lanes = std::max(1, num_threads_);
    std::vector<BandedConvStep::Lane> lanes;
    for (int l = 0; l < num_lanes; ++l) {
      BandedConvStep::Lane stages;
      for (const Node& conv : node.chain) {
        auto op = ConvOperator(conv, g_.tensors[conv.inputs[0]].shape, g_.tensors[conv.output].shape);
        if (op == nullptr) {
          *error_ = conv.label + ": " + *error_;
          return nullptr;
        }
        stages.push_back({std::move(op), conv.stage.residual ? conv.inputs[1] : -1});
      }
      // The rings between the three have one reader each: the next stage.
      for (size_t s = 0; s + 1 < stages.size(); ++s) {
        if (ElideMaskedOutputs(stages[s].op.get(), {stages[s + 1].op.get()}) && l == 0) {
          notes.push_back("masked pixels of " + node.chain[s].label + " read as one value by " +
                          node.chain[s + 1].label);
        }
      }
      lanes.push_back(std::move(stages));
    }
    // The step's two ends, every lane's copy, for elision across steps.
    ConvUse first{{}, node.chain.front().inputs[0], -1, lanes[0].front().residual, node.chain.front().label};
    ConvUse last{{}, -1, node.output, lanes[0].back().residual, node.chain.back().label};
    for (const auto& lane : lanes) {
      first.ops.push_back(lane.front().op.get());
      last.ops.push_back(lane.back().op.get());
    }
    conv_uses.push_back(std::move(first));
    conv_uses.push_back(std::move(last));
    return std::make_unique<BandedConvStep>(std::move(lanes), node.chain.front().inputs[0], node.output);
  }

  // An FC is a 1x1 conv over one image row of M "pixels" of K channels.
  std::unique_ptr<Step> FullyConnected(const Node& node, const Shape& in, const Shape& out) {
    if (in.empty() || out.empty() || node.conv.input_size < 1) return Fail("fully connected on a scalar");
    const size_t k = static_cast<size_t>(node.conv.input_size), units = static_cast<size_t>(out.back());
    const size_t rows = NumElements(in) / k;
    if (rows * k != NumElements(in) || rows * units != NumElements(out)) {
      return Fail("fully connected " + ShapeText(in) + " -> " + ShapeText(out) + " does not keep the rows");
    }
    SparseConvParams p;
    p.input_height = p.output_height = 1;
    p.input_width = p.output_width = static_cast<int>(rows);
    p.input_channels = static_cast<int>(k);
    p.output_channels = static_cast<int>(units);
    p.output_min = node.act_min;
    p.output_max = node.act_max;
    auto op = SparseConvOperator::Create(p, node.conv.weights, node.conv.bias, nullptr, nullptr, error_,
                                         ToOutputStage(node.stage));
    if (op == nullptr) return nullptr;
    return std::make_unique<ConvStep>(std::move(op), node.inputs[0], node.output,
                                      node.stage.residual ? node.inputs[1] : -1, -1);
  }

  std::unique_ptr<Step> Pool(const Node& node, const Shape& in, const Shape& out) {
    const int h = node.pool.height_axis, w = node.pool.width_axis, rank = static_cast<int>(in.size());
    bool alike = out.size() == in.size() && h >= 0 && h < rank && (w < 0 || w == h + 1) && w < rank;
    for (int d = 0; alike && d < rank; ++d) alike = d == h || d == w || in[d] == out[d];
    if (!alike) {
      return Fail("pool input " + ShapeText(in) + " and output " + ShapeText(out) + " differ outside dims " +
                  std::to_string(h) + ", " + std::to_string(w));
    }
    return MakeUnaryStep(Pool2DOperator::Create(PoolParams(node, in, out), error_), node);
  }

  std::unique_ptr<Step> TransposeConv(const Node& node, const Shape& in, const Shape& out) {
    if (in.size() != 4 || out.size() != 4) return Fail("transpose conv needs NHWC input and output");
    TransposeConvParams p;
    p.batch = in[0];
    p.input_height = in[1];
    p.input_width = in[2];
    p.input_channels = in[3];
    p.output_height = out[1];
    p.output_width = out[2];
    p.output_channels = out[3];
    p.kernel_height = node.conv.kernel_height;
    p.kernel_width = node.conv.kernel_width;
    p.stride_height = node.conv.stride_height;
    p.stride_width = node.conv.stride_width;
    p.padding_top = node.conv.padding_top;
    p.padding_left = node.conv.padding_left;
    p.output_min = node.act_min;
    p.output_max = node.act_max;
    const Node::Conv& c = node.conv;
    if (c.channel_weights.empty()) {
      return MakeUnaryStep(TransposeConvOperator::Create(p, c.weights, c.bias, error_), node);
    }
    // One channel's transposed convs made one: their weights side by side ([C, KH, KW, 1]).
    if (c.channel_weights.size() != static_cast<size_t>(out[3]) || c.channel_biases.size() != c.channel_weights.size()) {
      return Fail("depthwise transpose conv of " + std::to_string(c.channel_weights.size()) + " channels for " +
                  ShapeText(out));
    }
    p.depthwise = true;
    const size_t taps = static_cast<size_t>(c.kernel_height) * c.kernel_width;
    std::vector<float> weights, bias;
    for (size_t ch = 0; ch < c.channel_weights.size(); ++ch) {
      weights.insert(weights.end(), c.channel_weights[ch], c.channel_weights[ch] + taps);
      bias.push_back(c.channel_biases[ch] != nullptr ? *c.channel_biases[ch] : 0.0f);
    }
    return MakeUnaryStep(TransposeConvOperator::Create(p, weights.data(), bias.data(), error_), node);
  }

  std::unique_ptr<Step> Mean(const Node& node, const Shape& in, const Shape& out) {
    if (node.axes.empty()) return Fail("mean over no axes");
    auto op = ReduceOperator::Create(in, node.axes, error_, node.reduction);
    if (op == nullptr) return nullptr;
    size_t reduced = 1;
    for (int axis : node.axes) reduced *= static_cast<size_t>(in[axis]);
    if (NumElements(out) * reduced != NumElements(in)) return Fail("mean output " + ShapeText(out) + " does not fit");
    return MakeUnaryStep(std::move(op), node);
  }

  // The group's ops as values (its inputs first, then each op's result); a
  // reshape read only inside the group is its input's value, no op.
  std::unique_ptr<Step> ElementwiseGroup(const Node& node) {
    std::vector<int> value_of(g_.tensors.size(), -1);
    std::vector<size_t> input_sizes;
    for (int t : node.inputs) {
      value_of[t] = static_cast<int>(input_sizes.size());
      input_sizes.push_back(NumElements(g_.tensors[t].shape));
    }
    const size_t elements = NumElements(g_.tensors[node.output].shape);
    std::vector<GroupOp> ops;
    for (const Node& member : node.chain) {
      GroupOp op;
      for (int t : member.inputs) {
        if (value_of[t] < 0) return Fail("elementwise group: " + member.label + " reads a tensor made after it");
        op.operands.push_back(value_of[t]);
      }
      const auto written = std::find(node.group_outputs.begin(), node.group_outputs.end(), member.output);
      op.output = written == node.group_outputs.end() ? -1 : static_cast<int>(written - node.group_outputs.begin());
      switch (member.type) {
        case OpType::kBinary:
        case OpType::kIntBinary:
          op.kind = GroupOp::Kind::kBinary;
          op.binary_op = member.binary_op;
          op.lo = member.act_min;
          op.hi = member.act_max;
          break;
        case OpType::kUnary:
          op.kind = GroupOp::Kind::kUnary;
          op.unary_op = member.unary_op;
          op.unary_params.alpha = member.alpha;
          op.unary_params.lo = member.act_min;
          op.unary_params.hi = member.act_max;
          break;
        case OpType::kSelect:
          op.kind = GroupOp::Kind::kSelect;
          break;
        case OpType::kCast:
          op.kind = GroupOp::Kind::kConvert;
          op.to_int = member.cast_to == DataType::kInt32;
          break;
        case OpType::kReshape:
          if (op.output < 0) {
            value_of[member.output] = op.operands[0];
            continue;
          }
          op.kind = GroupOp::Kind::kCopy;
          break;
        default:
          return Fail("elementwise group: " + member.label + " is not elementwise");
      }
      value_of[member.output] = static_cast<int>(input_sizes.size() + ops.size());
      ops.push_back(std::move(op));
    }
    auto op = ElementwiseGroupOperator::Create(elements, input_sizes, std::move(ops), error_);
    if (op == nullptr) return nullptr;
    return std::make_unique<ElementwiseGroupStep>(std::move(op), node.inputs, node.group_outputs);
  }

  const Graph& g_;
  const std::vector<bool>& aliased_;
  const int num_threads_;
  std::string* error_ = nullptr;
};

}  // namespace

PartitionPlan::~PartitionPlan() = default;

std::unique_ptr<PartitionPlan> PartitionPlan::Create(Graph graph, const PlanOptions& options, std::string* error) {
  if (!Validate(graph, error)) return nullptr;
  std::unique_ptr<PartitionPlan> plan(new PartitionPlan());
  if (options.fuse) {
    FusionOptions fusion;
    fusion.min_banded_bytes = options.min_banded_bytes != 0 ? options.min_banded_bytes
                              : options.num_threads <= 1  ? kMinBandedBytes
                                                          : kMinBandedBytesThreaded;
    plan->fusions_ = FuseGraph(&graph, fusion);
  }
  plan->graph_ = std::move(graph);
  const Graph& g = plan->graph_;
  const size_t num_tensors = g.tensors.size();
  auto internal = [&](int t) { return !g.tensors[t].external && g.tensors[t].constant == nullptr; };

  // A reshape between two internal tensors shares its input's floats.
  std::vector<int> root(num_tensors);
  std::vector<bool> aliased(num_tensors, false);
  for (size_t t = 0; t < num_tensors; ++t) root[t] = static_cast<int>(t);
  for (const Node& node : g.nodes) {
    if (node.type == OpType::kReshape && internal(node.inputs[0]) && internal(node.output)) {
      root[node.output] = root[node.inputs[0]];
      aliased[node.output] = true;
    }
  }

  StepBuilder builder(g, aliased, options.num_threads);
  for (const Node& node : g.nodes) {
    std::string why;
    std::unique_ptr<Step> step = builder.Build(node, &why);
    if (step == nullptr) {
      *error = node.label + ": " + why;
      return nullptr;
    }
    plan->steps_.push_back(std::move(step));
    StepInfo info;
    info.label = node.label;
    info.output = DimsTail(g.tensors[node.output].shape);
    // A banded node's convs keep their masks: report the fraction of their
    // output pixels that are masked, over the convs of the band.
    size_t masked = 0, pixels = 0;
    auto count_mask = [&](const Node& conv) {
      masked += static_cast<size_t>(std::count(conv.conv.mask.begin(), conv.conv.mask.end(), 0));
      pixels += conv.conv.mask.size();
    };
    count_mask(node);
    for (const Node& conv : node.chain) count_mask(conv);
    if (pixels != 0) info.sparsity = static_cast<float>(masked) / static_cast<float>(pixels);
    plan->step_info_.push_back(info);
  }

  if (options.fuse) {
    for (const std::string& note : builder.notes) plan->fusions_.push_back(note);
    // Between steps: a tensor whose only readers are convs reading it as
    // their input (not as a residual, not through a reshape).
    std::vector<size_t> readers(num_tensors, 0);
    for (const Node& node : g.nodes) {
      for (int t : node.inputs) ++readers[t];
    }
    std::vector<bool> shared(num_tensors, false);  // another tensor aliases it
    for (size_t t = 0; t < num_tensors; ++t) {
      if (root[t] != static_cast<int>(t)) shared[root[t]] = true;
    }
    for (const StepBuilder::ConvUse& producer : builder.conv_uses) {
      const int t = producer.output;
      if (t < 0 || !internal(t) || aliased[t] || shared[t]) continue;
      std::vector<SparseConvOperator*> ops;
      std::vector<std::string> labels;
      size_t reader_nodes = 0;
      for (const StepBuilder::ConvUse& reader : builder.conv_uses) {
        if (reader.input != t || reader.residual == t) continue;
        ops.insert(ops.end(), reader.ops.begin(), reader.ops.end());
        labels.push_back(reader.label);
        ++reader_nodes;
      }
      if (reader_nodes != readers[t] || !ElideMaskedOutputs(producer.ops, ops)) continue;
      std::sort(labels.begin(), labels.end());
      std::string note = "masked pixels of " + producer.label + " read as one value by ";
      for (size_t i = 0; i < labels.size(); ++i) note += (i ? ", " : "") + labels[i];
      plan->fusions_.push_back(note);
    }
  }

  // Lifetimes of internal tensors (by root) in steps, then offsets by size (PlaceArenaBlocks).
  const size_t none = kNotInArena;
  std::vector<size_t> first(num_tensors, none), last(num_tensors, 0);
  for (size_t s = 0; s < g.nodes.size(); ++s) {
    const Node& node = g.nodes[s];
    auto touch = [&](int t) {
      if (!internal(t)) return;
      const int r = root[t];
      first[r] = std::min(first[r], s);
      last[r] = std::max(last[r], s);
    };
    touch(node.output);
    for (int t : node.group_outputs) touch(t);
    for (int t : node.inputs) touch(t);
  }
  std::vector<ArenaBlock> blocks;
  for (size_t t = 0; t < num_tensors; ++t) {
    if (root[t] == static_cast<int>(t) && first[t] != none) {
      const size_t floats = (NumElements(g.tensors[t].shape) + kArenaAlignFloats - 1) / kArenaAlignFloats *
                            kArenaAlignFloats;
      blocks.push_back({floats, first[t], last[t], 0, static_cast<int>(t)});
    }
  }
  const size_t arena_floats = PlaceArenaBlocks(&blocks, options.num_threads > 1);
  plan->arena_.assign(arena_floats, 0.0f);
  plan->arena_offset_.assign(num_tensors, kNotInArena);
  for (const ArenaBlock& block : blocks) plan->arena_offset_[block.root] = block.offset;
  for (size_t t = 0; t < num_tensors; ++t) {
    if (internal(static_cast<int>(t)) && root[t] != static_cast<int>(t)) plan->arena_offset_[t] = plan->arena_offset_[root[t]];
  }
  plan->bound_.assign(num_tensors, nullptr);
  plan->workers_ = options.workers;
  return plan;
}

bool PartitionPlan::Run(const std::vector<float*>& pointers, ThreadPool* pool, std::string* error,
                        const StepTimer* timer) {
  const Graph& g = graph_;
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    const Tensor& tensor = g.tensors[t];
    if (tensor.constant != nullptr) {
      // The operators only read constants.
      bound_[t] = const_cast<float*>(tensor.constant);
    } else if (arena_offset_[t] != kNotInArena) {
      bound_[t] = arena_.data() + arena_offset_[t];
    } else if (tensor.external) {
      bound_[t] = t < pointers.size() ? pointers[t] : nullptr;
      if (bound_[t] == nullptr) {
        *error = "tensor " + tensor.name + " is not allocated";
        return false;
      }
    }
  }
  // With workers or on the caller alone (see run_mode.h); the pool goes
  // back to its default (workers) after the run, for its other users.
  const bool threaded = pool != nullptr && pool->num_threads() > 1;
  const bool use_workers =
      threaded && (workers_ == PlanOptions::Workers::kAlways ||
                   (workers_ == PlanOptions::Workers::kAuto && run_mode_.NextRunUsesWorkers()));
  const auto run_start = std::chrono::steady_clock::now();
  if (threaded) pool->UseWorkers(use_workers);
  // The steps follow one another at once: keep the workers spinning between
  // them, and let them sleep only after the last one has returned (released
  // before the last step, a worker spinning for it would go to sleep just
  // before it starts and need waking, 15-30 us, every run).
  if (use_workers) pool->HoldWorkers(true);
  auto release = [&] {
    if (!threaded) return;
    pool->HoldWorkers(false);
    pool->UseWorkers(true);
  };
  for (size_t s = 0; s < steps_.size(); ++s) {
    const auto start = timer != nullptr ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    steps_[s]->Run(bound_, pool);
    if (!steps_[s]->error.empty()) {
      release();
      *error = step_info_[s].label + ": " + steps_[s]->error;
      return false;
    }
    if (timer == nullptr) continue;
    (*timer)(s, static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count()));
  }
  release();
  if (threaded) {
    ++(use_workers ? runs_with_workers_ : runs_on_caller_);
    if (workers_ == PlanOptions::Workers::kAuto) {
      run_mode_.Record(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count());
    }
  }
  return true;
}

}  // namespace graph
}  // namespace actsparse
