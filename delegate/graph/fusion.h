// Fusion passes over a partition's graph. Each rewrite is exact in the
// builtin kernels' float semantics except where noted in ARCHITECTURE.md
// (the summation order of a fused op is its producer's):
//   - a MEAN of a TRANSPOSE reads the untransposed tensor (NCHW MEAN over H,W
//     is an NHWC MEAN over H,W), and a binary op between two inverse
//     TRANSPOSEs runs in the untransposed layout when its other operand only
//     broadcasts (squeeze-excitation's scale); an activation (any unary op)
//     read only after a TRANSPOSE runs before it, on the untransposed
//     tensor, where it can join the conv that made it; transposes nobody
//     reads go;
//   - a CONCATENATION of one-channel TRANSPOSE_CONVs, each of a SLICE of
//     one channel of the same tensor in order (litert-torch's ConvTranspose2d
//     with groups = channels), into one depthwise transposed conv: the same
//     products summed in the same order;
//   - a zero PAD (H and W only) into the conv or depthwise conv it feeds, and
//     a PAD by the lowest float into the max pool it feeds (padded positions
//     never win a max);
//   - LOGISTIC(x) then MUL(x, that) into one SiLU;
//   - BATCH_MATMUL (scores) -> SOFTMAX -> BATCH_MATMUL reading the weights
//     as its left operand or as its right one given adjoint, into one
//     attention step computed a block of query rows at a time (the scores
//     never written whole; each sum's terms in their order: exact);
//   - a MUL or DIV by a positive scalar constant read only by a SOFTMAX
//     (attention's 1 / sqrt(d)) into the softmax's beta (not exact: see
//     ARCHITECTURE.md);
//   - an ADD of a conv's output and another tensor of the same shape (a
//     residual) into the conv's output stage, with the ADD's activation;
//   - an activation (RELU*, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH, SiLU)
//     into the conv that produces its input;
//   - a MUL of a tensor by one factor per channel (squeeze-excitation's
//     scale) into the 1x1 conv that reads it, as the conv's weights times
//     the factors at every run, where the weights are at most half of the
//     tensor (x * (s * w) for (x * s) * w: a rounding apart per product);
//   - a run of elementwise ops on one tensor (unary ones, and binary ones
//     with a model constant of one value per innermost index or a single
//     value: a batch norm written as SUB, MUL, MUL, ADD) into one step that
//     applies them in turn to chunks in L1, each with its own kernel: exact;
//   - a conv -> depthwise conv -> 1x1 conv (MobileNet's inverted residual
//     and its stem, with what was fused into them) whose first intermediate
//     tensor is large, into one banded node: computed a few output rows at a
//     time, the two intermediate tensors never written whole (same sums in
//     the same order: exact). With several threads the plan gives each
//     thread a lane (its own copy of the three operators and its own rings)
//     and hands out segments of output rows, boundary rows of the first conv
//     computed by both segments (plan.cc); only from a larger tensor, see
//     kMinBandedBytesThreaded. (Each band's three ops split across the
//     threads instead synchronise three times per band: MobileNetV2 at 2
//     threads lost 25%.)
//   - consecutive elementwise nodes over one element count (binary ones
//     with single values broadcast, int ops, unary ops, SELECT, CAST,
//     RESHAPE), however they read one another, into one group run chunk by
//     chunk in L1, each op its own kernel (exact); a result is written out
//     only when a node after the group reads it (grid_sample's index
//     arithmetic: 50 ops, most results read a few ops later).
// A rewrite needs the intermediate tensor to be read by exactly one node
// and not by anyone outside the partition. (Once the operators exist, the
// plan also elides masked outputs: see ElideMaskedOutputs in plan.cc.)
#ifndef ACTSPARSE_DELEGATE_GRAPH_FUSION_H_
#define ACTSPARSE_DELEGATE_GRAPH_FUSION_H_

#include <string>
#include <vector>

#include "delegate/graph/graph.h"

namespace actsparse {
namespace graph {

// Intermediate tensors below this size are left to the arena: they fit in
// the caches anyway, and bands would only add synchronisation.
constexpr size_t kMinBandedBytes = 512 * 1024;
// With several threads, each core's L2 holds its share of the tensor
// unbanded, and a lane computes its segments' boundary rows twice: bands
// pay only from a larger tensor. Measured at 2 threads, one process,
// interleaved, on Zen 5 (2026-12-01, after a stem's edge patches stopped
// being refilled at every band): MobileNetV2 banded from 1 MB (its stem
// block and two 1.8 MB blocks join) +3.5% / +4.2% over from 2 MB, from 1.5
// MB +0.6% / +1.2%, from 0.5 MB +0.5% / +1.6%; MobileNetV3-Large and the
// masked MobileNetV2 unchanged (-1.0% to +1.0%). (On the Xeon VM, with the
// stem refilling its patches per band, 2 MB was best.)
constexpr size_t kMinBandedBytesThreaded = 1024 * 1024;

struct FusionOptions {
  bool bands = true;  // inverted residuals into bands
  size_t min_banded_bytes = kMinBandedBytes;  // from this size of their first intermediate tensor
};

// Rewrites `graph` in place; returns one line per fusion, e.g.
// "PAD#5 into CONV_2D#6".
std::vector<std::string> FuseGraph(Graph* graph, const FusionOptions& options = FusionOptions());

}  // namespace graph
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_GRAPH_FUSION_H_
