// Reading the runtime's nodes into the graph layer's form. The node filter
// (what the delegate claims with claim=graph) and the partition kernel (what
// it builds) call the same function, so what is claimed is exactly what is
// built; a node it cannot read stays with the runtime, with the reason.
#ifndef ACTSPARSE_DELEGATE_TFLITE_GRAPH_IMPORT_H_
#define ACTSPARSE_DELEGATE_TFLITE_GRAPH_IMPORT_H_

#include <string>

#include "delegate/abi/tflite_abi.h"
#include "delegate/graph/graph.h"
#include "delegate/tflite/chain.h"
#include "delegate/tflite/constant_fold.h"
#include "delegate/tflite/simple_delegate.h"

namespace actsparse {

// Whether ImportNode reads nodes of this builtin op at all (it may still
// refuse one for its parameters): the ops whose tensors pass the ABI check.
bool ImportsBuiltin(int32_t builtin_code);

// Whether the delegate can compute `info`; if so, fills `out` with its graph
// form. Tensor ids in `out` (inputs, output) are the runtime's tensor
// indices; the caller maps them. `why` names the failing check. `folded`:
// the int / bool tensors computed from constants alone, read as constants
// (index grids, SELECT conditions); the overload without it reads only the
// model's constants.
bool ImportNode(const TfLiteContext* context, const NodeInfo& info, const FoldedTensors& folded, graph::Node* out,
                std::string* why);
bool ImportNode(const TfLiteContext* context, const NodeInfo& info, graph::Node* out, std::string* why);

// A validated masked chain (PAD -> CONV_2D -> MUL(mask) -> ADD) as one conv
// node with its mask, in runtime tensor indices.
graph::Node ImportChain(const ChainPlan& chain);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_GRAPH_IMPORT_H_
