#include "delegate/operator/matmul.h"

#include <algorithm>

namespace actsparse {
namespace {

// Work per task, in multiply-adds (rows of the product) and in floats moved
// (packing, transposing): below this a second thread costs more than it saves.
constexpr size_t kMinMultiplyAddsPerTask = 32768;
constexpr size_t kMinPackFloatsPerTask = 16384;

size_t DimFromRight(const Shape& shape, size_t i) {  // i = 0: the last batch dim
  return i + 2 < shape.size() ? static_cast<size_t>(shape[shape.size() - 3 - i]) : 1;
}

}  // namespace

bool MatMulOutputShape(const Shape& lhs, const Shape& rhs, bool adj_x, bool adj_y, Shape* out,
                       std::string* error) {
  const std::string shapes = "batch matmul of " + ShapeText(lhs) + (adj_x ? " (adjoint)" : "") + " and " +
                             ShapeText(rhs) + (adj_y ? " (adjoint)" : "");
  if (lhs.size() < 2 || rhs.size() < 2 || lhs.size() > kMaxRank || rhs.size() > kMaxRank) {
    *error = shapes + ": operands need rank 2 to " + std::to_string(kMaxRank);
    return false;
  }
  for (const Shape* s : {&lhs, &rhs}) {
    for (int d : *s) {
      if (d < 1) {
        *error = shapes + ": an empty dim";
        return false;
      }
    }
  }
  const int l0 = lhs[lhs.size() - 2], l1 = lhs.back(), r0 = rhs[rhs.size() - 2], r1 = rhs.back();
  const int k = adj_x ? l0 : l1, rhs_k = adj_y ? r1 : r0;
  if (k != rhs_k) {
    *error = shapes + ": contracts " + std::to_string(k) + " terms with " + std::to_string(rhs_k);
    return false;
  }
  // Batch dims, right-aligned: each pair 1 or equal.
  const size_t batch_rank = std::max(lhs.size(), rhs.size()) - 2;
  out->assign(batch_rank, 1);
  for (size_t i = 0; i < batch_rank; ++i) {
    const size_t a = DimFromRight(lhs, i), b = DimFromRight(rhs, i);
    if (a != b && a != 1 && b != 1) {
      *error = shapes + ": batch dims " + std::to_string(a) + " and " + std::to_string(b) + " do not broadcast";
      return false;
    }
    (*out)[batch_rank - 1 - i] = static_cast<int>(std::max(a, b));
  }
  out->push_back(adj_x ? l1 : l0);
  out->push_back(adj_y ? r0 : r1);
  return true;
}

std::unique_ptr<MatMulOperator> MatMulOperator::Create(const Shape& lhs, const Shape& rhs, bool adj_x, bool adj_y,
                                                       const Shape& out, const float* rhs_constant,
                                                       std::string* error) {
  Shape expected;
  if (!MatMulOutputShape(lhs, rhs, adj_x, adj_y, &expected, error)) return nullptr;
  if (out != expected) {
    *error = "batch matmul of " + ShapeText(lhs) + " and " + ShapeText(rhs) + " is " + ShapeText(expected) +
             ", not " + ShapeText(out);
    return nullptr;
  }
  const size_t m = expected[expected.size() - 2], n = expected.back();
  const size_t k = adj_x ? lhs[lhs.size() - 2] : lhs.back();
  // Packing the right operand costs K x N floats moved at every run; the
  // transposed product packs K x M and transposes M x N. Taken only where
  // the right operand comes adjoint ([N, K]: its rows are the transposed
  // product's left rows, read in place).
  if (rhs_constant == nullptr && adj_y && k * m + m * n < k * n) {
    Shape swapped(expected.begin(), expected.end() - 2);
    swapped.push_back(static_cast<int>(n));
    swapped.push_back(static_cast<int>(m));
    auto op = std::unique_ptr<MatMulOperator>(new MatMulOperator());
    op->transposed_ = CreateDirect(rhs, lhs, !adj_y, !adj_x, swapped, nullptr);
    op->m_ = m;
    op->n_ = n;
    op->k_ = k;
    op->batches_ = NumElements(Shape(expected.begin(), expected.end() - 2));
    op->transposed_out_.assign(op->batches_ * m * n, 0.0f);
    op->transpose_ = kernels::SelectElementwiseKernels().transpose;
    return op;
  }
  return CreateDirect(lhs, rhs, adj_x, adj_y, expected, rhs_constant);
}

std::unique_ptr<MatMulOperator> MatMulOperator::CreateDirect(const Shape& lhs, const Shape& rhs, bool adj_x,
                                                             bool adj_y, const Shape& expected,
                                                             const float* rhs_constant) {
  auto op = std::unique_ptr<MatMulOperator>(new MatMulOperator());
  op->adj_x_ = adj_x;
  op->adj_y_ = adj_y;
  op->m_ = expected[expected.size() - 2];
  op->n_ = expected.back();
  op->k_ = adj_x ? lhs[lhs.size() - 2] : lhs.back();
  const size_t batch_rank = expected.size() - 2;
  // Each output batch's operand batches: walk the output's batch index,
  // outermost dim first, with each operand's stride (0 where it broadcasts).
  size_t lhs_stride = 1, rhs_stride = 1;
  std::vector<size_t> lhs_strides(batch_rank), rhs_strides(batch_rank);
  for (size_t i = 0; i < batch_rank; ++i) {  // from the right
    const size_t dim = batch_rank - 1 - i;
    const size_t a = DimFromRight(lhs, i), b = DimFromRight(rhs, i);
    lhs_strides[dim] = a == 1 ? 0 : lhs_stride;
    rhs_strides[dim] = b == 1 ? 0 : rhs_stride;
    lhs_stride *= a;
    rhs_stride *= b;
  }
  op->lhs_batches_ = lhs_stride;
  op->rhs_batches_ = rhs_stride;
  const size_t batches = NumElements(Shape(expected.begin(), expected.end() - 2));
  std::vector<size_t> index(batch_rank, 0);
  for (size_t b = 0; b < batches; ++b) {
    size_t l = 0, r = 0;
    for (size_t d = 0; d < batch_rank; ++d) {
      l += index[d] * lhs_strides[d];
      r += index[d] * rhs_strides[d];
    }
    op->lhs_batch_.push_back(l);
    op->rhs_batch_.push_back(r);
    for (size_t d = batch_rank; d-- > 0;) {
      if (++index[d] < static_cast<size_t>(expected[d])) break;
      index[d] = 0;
    }
  }
  // The packing: per right-operand batch, each reduction block's tiles of
  // [16 zeros (the igemm's bias)][count][16], the last tile zero-padded.
  const size_t tiles = (op->n_ + kernels::kIgemmTile - 1) / kernels::kIgemmTile;
  const size_t block = op->k_ > kMatMulMaxUnblocked ? kMatMulReductionBlock : op->k_;
  for (size_t first = 0; first < op->k_; first += block) {
    ReductionBlock rb;
    rb.first = first;
    rb.count = std::min(block, op->k_ - first);
    rb.offset = op->packed_batch_floats_;
    op->packed_batch_floats_ += tiles * kernels::IgemmTileFloats(1, rb.count);
    op->blocks_.push_back(rb);
  }
  op->packed_.assign(op->rhs_batches_ * op->packed_batch_floats_, 0.0f);
  if (adj_x) op->lhs_transposed_.assign(op->lhs_batches_ * op->m_ * op->k_, 0.0f);
  op->igemm_ = kernels::SelectIgemm();
  op->transpose_ = kernels::SelectElementwiseKernels().transpose;
  if (rhs_constant != nullptr) {
    for (size_t b = 0; b < op->rhs_batches_; ++b) op->PackRhs(rhs_constant, b);
    op->rhs_packed_once_ = true;
  }
  return op;
}

void MatMulOperator::PackRhs(const float* rhs, size_t b) {
  const float* src = rhs + b * k_ * n_;
  constexpr size_t kTile = kernels::kIgemmTile;
  for (const ReductionBlock& block : blocks_) {
    float* tile = packed_.data() + b * packed_batch_floats_ + block.offset;
    for (size_t c0 = 0; c0 < n_; c0 += kTile, tile += kernels::IgemmTileFloats(1, block.count)) {
      const size_t width = std::min(kTile, n_ - c0);
      float* rows = tile + kTile;  // past the zero bias
      if (adj_y_) {  // src is [N, K]: column c of the product is src's row c
        for (size_t j = 0; j < width; ++j) {
          const float* column = src + (c0 + j) * k_ + block.first;
          for (size_t k = 0; k < block.count; ++k) rows[k * kTile + j] = column[k];
        }
      } else {
        for (size_t k = 0; k < block.count; ++k) {
          std::copy_n(src + (block.first + k) * n_ + c0, width, rows + k * kTile);
        }
      }
      // The padding columns (and the bias) stay as Create zeroed them.
    }
  }
}

void MatMulOperator::Prepare(const float* lhs, const float* rhs, ThreadPool* pool) {
  const size_t pack_items = rhs_packed_once_ ? 0 : rhs_batches_;
  const size_t transpose_items = adj_x_ ? lhs_batches_ : 0;
  if (pack_items + transpose_items == 0) return;
  const size_t item_floats = k_ * std::max(m_, n_);
  ParallelRanges(pool, pack_items + transpose_items, std::max<size_t>(1, kMinPackFloatsPerTask / item_floats),
                 [&](size_t begin, size_t end) {
                   for (size_t i = begin; i < end; ++i) {
                     if (i < pack_items) {
                       PackRhs(rhs, i);
                     } else {  // [K, M] -> [M, K]
                       const size_t b = i - pack_items;
                       transpose_(k_, m_, lhs + b * k_ * m_, m_, lhs_transposed_.data() + b * m_ * k_, k_);
                     }
                   }
                 });
}

const float* MatMulOperator::LhsRows(const float* lhs, size_t b, size_t m0) const {
  const float* rows_in = adj_x_ ? lhs_transposed_.data() : lhs;
  return rows_in + (lhs_batch_[b] * m_ + m0) * k_;
}

void MatMulOperator::MultiplyRows(const float* rows, size_t b, size_t count, float* out) const {
  kernels::IgemmArgs a;
  a.channels = n_;
  a.taps = 1;
  a.direct_input_stride = k_;
  a.direct_output_stride = n_;
  const float* first_input = nullptr;
  float* first_output = out;
  a.indirection = &first_input;
  a.outputs = &first_output;
  a.rows = count;
  const float* batch_packed = packed_.data() + rhs_batch_[b] * packed_batch_floats_;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const ReductionBlock& block = blocks_[i];
    first_input = rows + block.first;
    a.tap_channels = block.count;
    a.packed = batch_packed + block.offset;
    a.accumulate = i > 0;
    a.finish = i + 1 == blocks_.size();
    igemm_.fn(a);
  }
}

void MatMulOperator::Run(const float* lhs, const float* rhs, float* out, ThreadPool* pool) {
  if (transposed_ != nullptr) {
    transposed_->Run(rhs, lhs, transposed_out_.data(), pool);
    const size_t floats = m_ * n_;
    ParallelRanges(pool, batches_, std::max<size_t>(1, kMinPackFloatsPerTask / floats), [&](size_t begin, size_t end) {
      for (size_t b = begin; b < end; ++b) {  // [N, M] -> [M, N]
        transpose_(n_, m_, transposed_out_.data() + b * floats, m_, out + b * floats, n_);
      }
    });
    return;
  }
  Prepare(lhs, rhs, pool);
  const size_t batches = lhs_batch_.size();
  const size_t min_rows = std::max<size_t>(1, kMinMultiplyAddsPerTask / (k_ * n_));
  ParallelRanges(pool, batches * m_, min_rows, [&](size_t begin, size_t end) {
    for (size_t row = begin; row < end;) {
      const size_t b = row / m_, m0 = row % m_, count = std::min(m_ - m0, end - row);
      MultiplyRows(LhsRows(lhs, b, m0), b, count, out + (b * m_ + m0) * n_);
      row += count;
    }
  });
}

bool AttentionOperator::Fits(const Shape& queries, const Shape& keys, bool adj_q, bool adj_k, const Shape& values,
                             bool adj_v, bool transposed_out, const Shape& out, std::string* error) {
  Shape scores, weighted;
  return ProductShapes(queries, keys, adj_q, adj_k, values, adj_v, transposed_out, out, &scores, &weighted, error);
}

bool AttentionOperator::ProductShapes(const Shape& queries, const Shape& keys, bool adj_q, bool adj_k,
                                      const Shape& values, bool adj_v, bool transposed_out, const Shape& out,
                                      Shape* scores_shape, Shape* weighted_shape, std::string* error) {
  Shape& scores = *scores_shape;
  Shape& weighted = *weighted_shape;
  if (!MatMulOutputShape(queries, keys, adj_q, adj_k, &scores, error) ||
      !MatMulOutputShape(scores, values, false, adj_v, &weighted, error)) {
    return false;
  }
  // The second product's batches must be the scores' (one row block of
  // scores feeds one row block of it).
  Shape expected = weighted;
  if (transposed_out) std::swap(expected[expected.size() - 1], expected[expected.size() - 2]);
  if (expected != out || !std::equal(scores.begin(), scores.end() - 2, weighted.begin(), weighted.end() - 2)) {
    *error = "attention of " + ShapeText(queries) + ", " + ShapeText(keys) + " and " + ShapeText(values) +
             " gives " + ShapeText(expected) + ", not " + ShapeText(out);
    return false;
  }
  return true;
}

std::unique_ptr<AttentionOperator> AttentionOperator::Create(const Shape& queries, const Shape& keys, bool adj_q,
                                                             bool adj_k, const Shape& values, bool adj_v,
                                                             bool transposed_out, float beta, const Shape& out,
                                                             std::string* error) {
  Shape scores, weighted;
  if (!ProductShapes(queries, keys, adj_q, adj_k, values, adj_v, transposed_out, out, &scores, &weighted, error)) {
    return nullptr;
  }
  std::unique_ptr<AttentionOperator> op(new AttentionOperator());
  op->scores_ = MatMulOperator::CreateDirect(queries, keys, adj_q, adj_k, scores, nullptr);
  op->weighted_ = MatMulOperator::CreateDirect(scores, values, false, adj_v, weighted, nullptr);
  op->batches_ = NumElements(Shape(scores.begin(), scores.end() - 2));
  op->m_ = scores[scores.size() - 2];
  op->n_ = scores.back();
  op->dv_ = weighted.back();
  op->beta_ = beta;
  op->transposed_out_ = transposed_out;
  op->block_rows_ = std::min(op->m_, std::max<size_t>(8, kBlockFloats / op->n_));
  op->k_ = &kernels::SelectElementwiseKernels();
  return op;
}

void AttentionOperator::Run(const float* queries, const float* keys, const float* values, float* out,
                            ThreadPool* pool) {
  scores_->Prepare(queries, keys, pool);
  weighted_->Prepare(nullptr, values, pool);
  const size_t blocks_per_batch = (m_ + block_rows_ - 1) / block_rows_;
  ParallelRanges(pool, batches_ * blocks_per_batch, 1, [&](size_t begin, size_t end) {
    AlignedFloats scores(block_rows_ * n_), rows_out(transposed_out_ ? block_rows_ * dv_ : 0);
    for (size_t block = begin; block < end; ++block) {
      const size_t b = block / blocks_per_batch, m0 = (block % blocks_per_batch) * block_rows_;
      const size_t count = std::min(block_rows_, m_ - m0);
      scores_->MultiplyRows(scores_->LhsRows(queries, b, m0), b, count, scores.data());
      k_->softmax_rows(count, n_, scores.data(), scores.data(), beta_);
      float* batch_out = out + b * m_ * dv_;
      if (!transposed_out_) {
        weighted_->MultiplyRows(scores.data(), b, count, batch_out + m0 * dv_);
      } else {  // rows m0.. of out^T: columns m0.. of out, [dv, M]
        weighted_->MultiplyRows(scores.data(), b, count, rows_out.data());
        k_->transpose(count, dv_, rows_out.data(), dv_, batch_out + m0, m_);
      }
    }
  });
}

}  // namespace actsparse
