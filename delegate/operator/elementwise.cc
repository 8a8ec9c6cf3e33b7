#include "delegate/operator/elementwise.h"

#include <algorithm>
#include <cstring>

#include "delegate/operator/layout.h"

namespace actsparse {
namespace {

// Below this many output floats per task, splitting costs more than it saves.
constexpr size_t kMinFloatsPerTask = 16384;
// An elementwise chain's stages run over chunks of about this many floats
// (8 KB): in L1 from one stage to the next, with each binary stage's
// operand repeated over a chunk's rows.
constexpr size_t kChainChunkFloats = 2048;
// Runs shorter than this with an operand broadcast along them go through
// blocks of kShortBlockFloats gathered floats (BinaryOperator::Run).
constexpr size_t kShortRunFloats = 8;
constexpr size_t kShortBlockFloats = 1024;

}  // namespace

std::unique_ptr<BinaryOperator> BinaryOperator::Create(kernels::BinaryOp op, const Shape& a, const Shape& b,
                                                       const Shape& out, float lo, float hi,
                                                       std::string* error) {
  const size_t rank = out.size();
  if (rank > static_cast<size_t>(kMaxRank) || a.size() > rank || b.size() > rank) {
    *error = "binary op: shapes " + ShapeText(a) + ", " + ShapeText(b) + " -> " + ShapeText(out) +
             " exceed rank " + std::to_string(kMaxRank) + " or the output's rank";
    return nullptr;
  }
  // Right-align both operands to the output's rank.
  std::vector<size_t> da(rank, 1), db(rank, 1);
  for (size_t i = 0; i < a.size(); ++i) da[rank - a.size() + i] = static_cast<size_t>(a[i]);
  for (size_t i = 0; i < b.size(); ++i) db[rank - b.size() + i] = static_cast<size_t>(b[i]);
  // Output dims that are not 1, each with whether a / b are broadcast along it.
  struct Dim {
    size_t extent;
    bool a_broadcast, b_broadcast;
  };
  std::vector<Dim> dims;
  for (size_t i = 0; i < rank; ++i) {
    const size_t o = static_cast<size_t>(out[i]);
    if ((da[i] != o && da[i] != 1) || (db[i] != o && db[i] != 1) || o == 0) {
      *error = "binary op: " + ShapeText(a) + " and " + ShapeText(b) + " do not broadcast to " + ShapeText(out);
      return nullptr;
    }
    if (o == 1) continue;
    const Dim dim{o, da[i] == 1, db[i] == 1};
    // Neighbours broadcast alike merge into one dim.
    if (!dims.empty() && dims.back().a_broadcast == dim.a_broadcast && dims.back().b_broadcast == dim.b_broadcast) {
      dims.back().extent *= o;
    } else {
      dims.push_back(dim);
    }
  }
  std::unique_ptr<BinaryOperator> result(new BinaryOperator());
  BinaryOperator& r = *result;
  r.lo_ = lo;
  r.hi_ = hi;
  kernels::BinaryForm form = kernels::BinaryForm::kVectorVector;
  if (!dims.empty()) {
    const Dim inner = dims.back();
    dims.pop_back();
    r.inner_ = inner.extent;
    if (inner.b_broadcast) form = kernels::BinaryForm::kVectorScalar;
    if (inner.a_broadcast) form = kernels::BinaryForm::kScalarVector;
    // Strides of the outer dims in each operand's own layout.
    size_t a_step = inner.a_broadcast ? 1 : inner.extent, b_step = inner.b_broadcast ? 1 : inner.extent;
    r.outer_.resize(dims.size());
    r.a_stride_.resize(dims.size());
    r.b_stride_.resize(dims.size());
    for (size_t j = dims.size(); j-- > 0;) {
      r.outer_[j] = dims[j].extent;
      r.a_stride_[j] = dims[j].a_broadcast ? 0 : a_step;
      r.b_stride_[j] = dims[j].b_broadcast ? 0 : b_step;
      if (!dims[j].a_broadcast) a_step *= dims[j].extent;
      if (!dims[j].b_broadcast) b_step *= dims[j].extent;
      r.outer_total_ *= dims[j].extent;
    }
  }
  r.a_whole_ = form != kernels::BinaryForm::kScalarVector;
  r.b_whole_ = form != kernels::BinaryForm::kVectorScalar;
  r.run_ = kernels::SelectElementwiseKernels().Binary(op, form);
  if (form == kernels::BinaryForm::kVectorVector && !r.outer_.empty()) {
    r.rows_run_ = kernels::SelectElementwiseKernels().BinaryRows(op);
  }
  if (form != kernels::BinaryForm::kVectorVector && !r.outer_.empty() && r.inner_ < kShortRunFloats) {
    r.short_run_ = kernels::SelectElementwiseKernels().Binary(op, kernels::BinaryForm::kVectorVector);
  }
  return result;
}

template <class Body>
void BinaryOperator::ForEachRun(size_t begin, size_t end, Body&& body) const {
  // Offsets of run `begin`, then advanced like an odometer.
  const size_t rank = outer_.size();
  size_t index[kMaxRank] = {};
  size_t a_offset = 0, b_offset = 0;
  for (size_t j = rank, rest = begin; j-- > 0;) {
    index[j] = rest % outer_[j];
    rest /= outer_[j];
    a_offset += index[j] * a_stride_[j];
    b_offset += index[j] * b_stride_[j];
  }
  for (size_t run = begin; run < end;) {
    const size_t count = body(run, outer_[rank - 1] - index[rank - 1], a_offset, b_offset);
    run += count;
    // Advance the odometer by `count` runs (`count` stays within the innermost loop).
    for (size_t j = rank, step = count; j-- > 0 && step > 0;) {
      a_offset += step * a_stride_[j];
      b_offset += step * b_stride_[j];
      index[j] += step;
      if (index[j] < outer_[j]) break;
      a_offset -= index[j] * a_stride_[j];
      b_offset -= index[j] * b_stride_[j];
      index[j] = 0;
      step = 1;
    }
  }
}

void BinaryOperator::Run(const float* a, const float* b, float* out, ThreadPool* pool) const {
  if (outer_.empty()) {
    // One run (operands of the output's shape, or one a single value): split
    // it, or it runs on one thread however long it is (an FRN's x * x over
    // 64512 floats did).
    ParallelRanges(pool, inner_, kMinFloatsPerTask, [&](size_t begin, size_t end) {
      run_(end - begin, a + (a_whole_ ? begin : 0), b + (b_whole_ ? begin : 0), out + begin, lo_, hi_);
    });
    return;
  }
  const size_t runs_per_task = std::max<size_t>(1, kMinFloatsPerTask / inner_);
  if (short_run_ != nullptr) {
    // Runs of a few floats with one operand broadcast along them (affine_grid:
    // [1, HW, 3, 1] x [N, 1, 3, 2], a call per 2 floats, 4 ns a float): a
    // block of runs gathered into whole operands, one vector-vector call,
    // the same operation on each float.
    ParallelRanges(pool, outer_total_, runs_per_task, [&](size_t begin, size_t end) {
      float ta[kShortBlockFloats], tb[kShortBlockFloats];
      const size_t per_block = kShortBlockFloats / inner_;
      ForEachRun(begin, end, [&](size_t run, size_t /*left_in_row*/, size_t a_offset, size_t b_offset) {
        const size_t slot = (run - begin) % per_block;
        for (size_t i = 0; i < inner_; ++i) {
          ta[slot * inner_ + i] = a[a_offset + (a_whole_ ? i : 0)];
          tb[slot * inner_ + i] = b[b_offset + (b_whole_ ? i : 0)];
        }
        if (slot + 1 == per_block || run + 1 == end) {
          const size_t first = run - slot;
          short_run_((slot + 1) * inner_, ta, tb, out + first * inner_, lo_, hi_);
        }
        return size_t{1};
      });
    });
    return;
  }
  ParallelRanges(pool, outer_total_, runs_per_task, [&](size_t begin, size_t end) {
    const size_t last = outer_.size() - 1;
    ForEachRun(begin, end, [&](size_t run, size_t left_in_row, size_t a_offset, size_t b_offset) {
      // Runs along the innermost outer loop go in one call where the kernel
      // takes them (a call per run of a squeeze-excitation's scale, one
      // pixel's channels, cost as much as the multiplies).
      if (rows_run_ == nullptr) {
        run_(inner_, a + a_offset, b + b_offset, out + run * inner_, lo_, hi_);
        return size_t{1};
      }
      const size_t count = std::min(end - run, left_in_row);
      rows_run_(count, inner_, a + a_offset, a_stride_[last], b + b_offset, b_stride_[last], out + run * inner_, lo_,
                hi_);
      return count;
    });
  });
}

std::unique_ptr<UnaryOperator> UnaryOperator::Create(kernels::UnaryOp op, size_t elements,
                                                     const kernels::UnaryParams& params) {
  std::unique_ptr<UnaryOperator> result(new UnaryOperator());
  result->run_ = kernels::SelectElementwiseKernels().Unary(op);
  result->params_ = params;
  result->elements_ = elements;
  return result;
}

void UnaryOperator::Run(const float* x, float* y, ThreadPool* pool) const {
  ParallelRanges(pool, elements_, kMinFloatsPerTask,
                 [&](size_t begin, size_t end) { run_(end - begin, x + begin, y + begin, params_); });
}

ConvertOperator::ConvertOperator(size_t elements, bool to_int) : elements_(elements) {
  const kernels::ElementwiseKernels& k = kernels::SelectElementwiseKernels();
  run_ = to_int ? k.float_to_int : k.int_to_float;
}

void ConvertOperator::Run(const float* x, float* y, ThreadPool* pool) const {
  ParallelRanges(pool, elements_, kMinFloatsPerTask,
                 [&](size_t begin, size_t end) { run_(end - begin, x + begin, y + begin); });
}

std::unique_ptr<SelectOperator> SelectOperator::Create(const std::vector<Shape>& shapes, const Shape& out,
                                                       const std::vector<const float*>& constants,
                                                       std::string* error) {
  if (shapes.size() != 3 || constants.size() != 3) {
    *error = "select: needs a condition and two values";
    return nullptr;
  }
  std::unique_ptr<SelectOperator> op(new SelectOperator());
  op->run_ = kernels::SelectElementwiseKernels().select;
  op->elements_ = NumElements(out);
  for (size_t i = 0; i < 3; ++i) {
    if (shapes[i] == out) continue;
    Repeated& r = op->inputs_[i];
    r.broadcast = BroadcastOperator::Create(shapes[i], out, error);
    if (r.broadcast == nullptr) {
      *error = "select: input " + std::to_string(i) + " " + ShapeText(shapes[i]) + " does not broadcast to " +
               ShapeText(out);
      return nullptr;
    }
    r.floats.assign(op->elements_, 0.0f);
    if (constants[i] != nullptr) {
      r.broadcast->Run(constants[i], r.floats.data(), nullptr);
      r.filled = true;
    }
  }
  return op;
}

SelectOperator::~SelectOperator() = default;

void SelectOperator::Run(const float* cond, const float* a, const float* b, float* out, ThreadPool* pool) {
  const float* given[3] = {cond, a, b};
  for (size_t i = 0; i < 3; ++i) {
    Repeated& r = inputs_[i];
    if (r.broadcast == nullptr) continue;
    if (!r.filled) r.broadcast->Run(given[i], r.floats.data(), pool);
    given[i] = r.floats.data();
  }
  ParallelRanges(pool, elements_, kMinFloatsPerTask, [&](size_t begin, size_t end) {
    run_(end - begin, given[0] + begin, given[1] + begin, given[2] + begin, out + begin);
  });
}

std::unique_ptr<ElementwiseChainOperator> ElementwiseChainOperator::Create(std::vector<ElementwiseStage> stages,
                                                                           size_t elements, size_t channels,
                                                                           std::string* error) {
  if (stages.empty() || channels == 0 || elements % channels != 0) {
    *error = "elementwise chain: " + std::to_string(stages.size()) + " stages over " + std::to_string(elements) +
             " floats in rows of " + std::to_string(channels);
    return nullptr;
  }
  for (const ElementwiseStage& stage : stages) {
    if (!stage.unary && stage.operand.size() != channels) {
      *error = "elementwise chain: an operand of " + std::to_string(stage.operand.size()) + " floats for rows of " +
               std::to_string(channels);
      return nullptr;
    }
  }
  std::unique_ptr<ElementwiseChainOperator> op(new ElementwiseChainOperator());
  op->rows_ = elements / channels;
  op->channels_ = channels;
  op->chunk_rows_ = std::max<size_t>(1, kChainChunkFloats / channels);
  op->kernels_ = &kernels::SelectElementwiseKernels();
  // Each operand repeated over a chunk's rows: a stage then runs over the
  // chunk's floats in one call, with one ragged end per chunk, not one per
  // row (36 or 60 channels, 4 past the last vector, ran at a third of the
  // speed of 48).
  for (ElementwiseStage& stage : stages) {
    if (stage.unary) continue;
    std::vector<float> repeated;
    repeated.reserve(op->chunk_rows_ * channels);
    for (size_t r = 0; r < op->chunk_rows_; ++r) repeated.insert(repeated.end(), stage.operand.begin(), stage.operand.end());
    stage.operand = std::move(repeated);
  }
  op->stages_ = std::move(stages);
  return op;
}

void ElementwiseChainOperator::Run(const float* x, float* y, ThreadPool* pool) const {
  const size_t c = channels_;
  const auto vector_vector = kernels::BinaryForm::kVectorVector;
  ParallelRanges(pool, rows_, std::max<size_t>(1, kMinFloatsPerTask / c), [&](size_t begin, size_t end) {
    for (size_t r0 = begin; r0 < end; r0 += chunk_rows_) {
      const size_t n = std::min(chunk_rows_, end - r0) * c;
      const float* in = x + r0 * c;  // the first stage reads x, the others their output in place
      float* out = y + r0 * c;
      for (const ElementwiseStage& stage : stages_) {
        const float* operand = stage.operand.data();
        if (stage.unary) {
          kernels_->Unary(stage.unary_op)(n, in, out, stage.params);
        } else if (stage.operand_first) {
          kernels_->Binary(stage.binary_op, vector_vector)(n, operand, in, out, stage.params.lo, stage.params.hi);
        } else {
          kernels_->Binary(stage.binary_op, vector_vector)(n, in, operand, out, stage.params.lo, stage.params.hi);
        }
        in = out;
      }
    }
  });
}

void ApplyOutputStage(const kernels::ElementwiseKernels& k, const OutputStage& stage, float* out,
                      const float* residual, size_t count) {
  if (stage.residual) {
    k.Binary(kernels::BinaryOp::kAdd, kernels::BinaryForm::kVectorVector)(count, out, residual, out,
                                                                          stage.residual_lo, stage.residual_hi);
  }
  if (stage.unary) k.Unary(stage.unary_op)(count, out, out, stage.unary_params);
}

std::unique_ptr<ElementwiseGroupOperator> ElementwiseGroupOperator::Create(size_t elements,
                                                                         const std::vector<size_t>& input_sizes,
                                                                         std::vector<GroupOp> ops,
                                                                         std::string* error) {
  const int inputs = static_cast<int>(input_sizes.size());
  // Each op's last reader, for the scratch rows' lifetimes.
  std::vector<int> last_use(ops.size(), -1);
  for (size_t j = 0; j < ops.size(); ++j) {
    const GroupOp& op = ops[j];
    const size_t arity = op.kind == GroupOp::Kind::kBinary ? 2 : op.kind == GroupOp::Kind::kSelect ? 3 : 1;
    if (op.operands.size() != arity) {
      *error = "elementwise group: op " + std::to_string(j) + " has " + std::to_string(op.operands.size()) +
               " operands, not " + std::to_string(arity);
      return nullptr;
    }
    size_t full = 0;
    for (int v : op.operands) {
      if (v < 0 || v >= inputs + static_cast<int>(j)) {
        *error = "elementwise group: op " + std::to_string(j) + " reads value " + std::to_string(v) +
                 ", not computed before it";
        return nullptr;
      }
      if (v >= inputs) last_use[v - inputs] = static_cast<int>(j);
      if (v >= inputs || input_sizes[v] == elements) ++full;
    }
    for (int v : op.operands) {
      if (v < inputs && input_sizes[v] != elements && input_sizes[v] != 1) {
        *error = "elementwise group: input " + std::to_string(v) + " of " + std::to_string(input_sizes[v]) +
                 " elements for " + std::to_string(elements);
        return nullptr;
      }
    }
    // Only a binary or select op broadcasts, and at least one operand of each op is whole.
    if (full == 0 || (full < arity && op.kind != GroupOp::Kind::kBinary && op.kind != GroupOp::Kind::kSelect)) {
      *error = "elementwise group: op " + std::to_string(j) + " has no operand of " + std::to_string(elements) +
               " elements";
      return nullptr;
    }
  }
  std::unique_ptr<ElementwiseGroupOperator> op(new ElementwiseGroupOperator());
  op->elements_ = elements;
  op->input_sizes_ = input_sizes;
  op->k_ = &kernels::SelectElementwiseKernels();
  // Scratch rows by lifetime: a row is free again after its result's last
  // reader has run.
  op->scratch_.assign(ops.size(), -1);
  std::vector<int> free_rows;
  std::vector<std::vector<int>> freed_after(ops.size());
  for (size_t j = 0; j < ops.size(); ++j) {
    if (ops[j].output < 0) {
      if (free_rows.empty()) {
        free_rows.push_back(static_cast<int>(op->num_scratch_++));
      }
      op->scratch_[j] = free_rows.back();
      free_rows.pop_back();
      if (last_use[j] >= 0) freed_after[last_use[j]].push_back(op->scratch_[j]);
      else free_rows.push_back(op->scratch_[j]);  // never read: the row is free again at once
    }
    for (int row : freed_after[j]) free_rows.push_back(row);
  }
  if (op->num_scratch_ > kMaxScratch) {
    *error = "elementwise group: " + std::to_string(op->num_scratch_) + " results alive at once (at most " +
             std::to_string(kMaxScratch) + ")";
    return nullptr;
  }
  op->ops_ = std::move(ops);
  return op;
}

void ElementwiseGroupOperator::Run(const float* const* inputs, float* const* outputs, ThreadPool* pool) const {
  const size_t num_inputs = input_sizes_.size(), chunks = (elements_ + kChunk - 1) / kChunk;
  ParallelRanges(pool, chunks, std::max<size_t>(1, kMinFloatsPerTask / kChunk), [&](size_t first, size_t end) {
    // On the heap: an app's thread may have a small stack. Then 3 rows for a
    // broadcast input as SELECT reads it: a chunk of its one value.
    AlignedFloats rows((num_scratch_ + 3) * kChunk);
    float* const repeated = rows.data() + num_scratch_ * kChunk;
    std::vector<float*> result(ops_.size());
    for (size_t chunk = first; chunk < end; ++chunk) {
      const size_t at = chunk * kChunk, n = std::min(kChunk, elements_ - at);
      auto value = [&](int v, bool* scalar) -> const float* {
        *scalar = false;
        if (v >= static_cast<int>(num_inputs)) return result[v - num_inputs];
        if (input_sizes_[v] == 1 && elements_ != 1) {
          *scalar = true;
          return inputs[v];
        }
        return inputs[v] + at;
      };
      for (size_t j = 0; j < ops_.size(); ++j) {
        const GroupOp& op = ops_[j];
        float* out = op.output >= 0 ? outputs[op.output] + at : rows.data() + scratch_[j] * kChunk;
        result[j] = out;
        bool scalar[3];
        const float* x[3];
        for (size_t i = 0; i < op.operands.size(); ++i) x[i] = value(op.operands[i], &scalar[i]);
        switch (op.kind) {
          case GroupOp::Kind::kBinary: {
            const kernels::BinaryForm form = scalar[0]   ? kernels::BinaryForm::kScalarVector
                                             : scalar[1] ? kernels::BinaryForm::kVectorScalar
                                                         : kernels::BinaryForm::kVectorVector;
            k_->Binary(op.binary_op, form)(n, x[0], x[1], out, op.lo, op.hi);
            break;
          }
          case GroupOp::Kind::kUnary:
            k_->Unary(op.unary_op)(n, x[0], out, op.unary_params);
            break;
          case GroupOp::Kind::kSelect:
            for (size_t i = 0; i < 3; ++i) {
              if (!scalar[i]) continue;
              std::fill(repeated + i * kChunk, repeated + i * kChunk + n, *x[i]);
              x[i] = repeated + i * kChunk;
            }
            k_->select(n, x[0], x[1], x[2], out);
            break;
          case GroupOp::Kind::kConvert:
            (op.to_int ? k_->float_to_int : k_->int_to_float)(n, x[0], out);
            break;
          case GroupOp::Kind::kCopy:
            if (out != x[0]) std::memcpy(out, x[0], n * sizeof(float));
            break;
        }
      }
    }
  });
}

}  // namespace actsparse
