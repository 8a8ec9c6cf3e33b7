// The int32 / int64 / bool tensors a model computes from its constants
// alone: litert-torch writes index grids as BROADCAST_TO, RESHAPE and
// CONCATENATION of constants feeding a GATHER_ND (PSPNet's adaptive pools),
// and a SELECT's condition as a BROADCAST_TO of a bool constant. Their
// values are known before any run, so the importer reads them as it reads
// model constants, and the delegate claims the nodes that compute them
// (its kernel writes their values where the runtime reads one).
#ifndef ACTSPARSE_DELEGATE_TFLITE_CONSTANT_FOLD_H_
#define ACTSPARSE_DELEGATE_TFLITE_CONSTANT_FOLD_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "delegate/abi/tflite_abi.h"
#include "delegate/tflite/simple_delegate.h"

namespace actsparse {

class FoldedTensors {
 public:
  // Folds each node of `plan`, in order, that is a RESHAPE, SQUEEZE,
  // EXPAND_DIMS, BROADCAST_TO or CONCATENATION (no activation) of int32,
  // int64 or bool tensors, its output of its inputs' type, and reads only
  // model constants and tensors folded before it.
  void Build(const TfLiteContext* context, const std::vector<NodeInfo>& plan);

  // The values (flattened, bools as 0 / 1) of an int32, int64 or bool
  // tensor that is a model constant or folded; null for any other tensor.
  const std::vector<int64_t>* Values(const TfLiteContext* context, int tensor) const;
  bool IsFoldedNode(int node_index) const { return folded_nodes_.count(node_index) > 0; }
  bool IsFoldedTensor(int tensor) const { return values_.count(tensor) > 0; }
  size_t num_folded_nodes() const { return folded_nodes_.size(); }

 private:
  std::map<int, std::vector<int64_t>> values_;  // folded tensors
  mutable std::map<int, std::vector<int64_t>> constants_;  // constants read once
  std::set<int> folded_nodes_;
};

// RESHAPE, SQUEEZE or EXPAND_DIMS: the same values, another shape.
bool IsReshapeOp(int32_t builtin_code);

// Writes `values` into an int32, int64 or bool tensor's buffer.
void WriteValues(const std::vector<int64_t>& values, TfLiteTensor* tensor);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_CONSTANT_FOLD_H_
