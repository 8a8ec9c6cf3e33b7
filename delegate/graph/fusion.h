// Fusion passes over a partition's graph. Each rewrite is exact in the
// builtin kernels' float semantics except where noted in ARCHITECTURE.md
// (the summation order of a fused op is its producer's):
//   - a MEAN of a TRANSPOSE reads the untransposed tensor (NCHW MEAN over H,W
//     is an NHWC MEAN over H,W), and a binary op between two inverse
//     TRANSPOSEs runs in the untransposed layout when its other operand only
//     broadcasts (squeeze-excitation's scale); transposes nobody reads go;
//   - a zero PAD (H and W only) into the conv or depthwise conv it feeds, and
//     a PAD by the lowest float into the max pool it feeds (padded positions
//     never win a max);
//   - LOGISTIC(x) then MUL(x, that) into one SiLU;
//   - an ADD of a conv's output and another tensor of the same shape (a
//     residual) into the conv's output stage, with the ADD's activation;
//   - an activation (RELU*, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH, SiLU)
//     into the conv that produces its input;
//   - a conv -> depthwise conv -> 1x1 conv (MobileNet's inverted residual
//     and its stem, with what was fused into them) whose first intermediate
//     tensor is large, into one banded node: computed a few output rows at a
//     time, the two intermediate tensors never written whole (same sums in
//     the same order: exact). Single-threaded plans only: with several
//     threads, every band's three ops hand rows across cores and synchronise
//     three times per band (MobileNetV2 at 2 threads lost 25%). Thread-private
//     rings (a copy of the three operators and a slice of rows per thread,
//     boundary rows computed twice) were tried: 0.98x of running the three
//     ops whole at 2 threads, so they were left out.
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

struct FusionOptions {
  bool bands = true;  // inverted residuals into bands (single-threaded plans)
};

// Rewrites `graph` in place; returns one line per fusion, e.g.
// "PAD#5 into CONV_2D#6".
std::vector<std::string> FuseGraph(Graph* graph, const FusionOptions& options = FusionOptions());

// Intermediate tensors below this size are left to the arena: they fit in
// the caches anyway, and bands would only add synchronisation.
constexpr size_t kMinBandedBytes = 512 * 1024;

}  // namespace graph
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_GRAPH_FUSION_H_
