#include "delegate/tflite/constant_fold.h"

#include <algorithm>

#include "delegate/operator/shape.h"

namespace actsparse {
namespace {

bool IsIndexType(int32_t type) { return type == kTfLiteInt32 || type == kTfLiteInt64 || type == kTfLiteBool; }

Shape Dims(const TfLiteTensor& t) { return Shape(t.dims->data, t.dims->data + t.dims->size); }

// `in` (shape `from`) repeated to `to`, numpy's rule right-aligned; false
// where it does not broadcast.
bool BroadcastValues(const std::vector<int64_t>& in, const Shape& from, const Shape& to, std::vector<int64_t>* out) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  }
  const size_t n = NumElements(to);
  out->assign(n, 0);
  std::vector<size_t> coords(to.size(), 0);
  for (size_t flat = 0; flat < n; ++flat) {
    size_t rest = flat, source = 0;
    for (size_t d = to.size(); d-- > 0;) {
      coords[d] = rest % static_cast<size_t>(to[d]);
      rest /= static_cast<size_t>(to[d]);
    }
    for (size_t i = 0; i < from.size(); ++i) {
      source = source * static_cast<size_t>(from[i]) + (from[i] == 1 ? 0 : coords[lead + i]);
    }
    (*out)[flat] = in[source];
  }
  return true;
}

}  // namespace

bool IsReshapeOp(int32_t builtin_code) {
  return builtin_code == kTfLiteBuiltinReshape || builtin_code == kTfLiteBuiltinSqueeze ||
         builtin_code == kTfLiteBuiltinExpandDims;
}

const std::vector<int64_t>* FoldedTensors::Values(const TfLiteContext* context, int tensor) const {
  auto folded = values_.find(tensor);
  if (folded != values_.end()) return &folded->second;
  if (tensor < 0 || tensor >= static_cast<int>(context->tensors_size)) return nullptr;
  const TfLiteTensor& t = context->tensors[tensor];
  if (!IsIndexType(t.type) || t.allocation_type != kTfLiteMmapRo || t.data.raw == nullptr || t.dims == nullptr) {
    return nullptr;
  }
  auto cached = constants_.find(tensor);
  if (cached != constants_.end()) return &cached->second;
  const size_t n = NumElements(Dims(t));
  std::vector<int64_t> values(n);
  for (size_t i = 0; i < n; ++i) {
    values[i] = t.type == kTfLiteInt32 ? t.data.i32[i] : t.type == kTfLiteInt64 ? t.data.i64[i] : t.data.b[i];
  }
  return &constants_.emplace(tensor, std::move(values)).first->second;
}

void FoldedTensors::Build(const TfLiteContext* context, const std::vector<NodeInfo>& plan) {
  values_.clear();
  constants_.clear();
  folded_nodes_.clear();
  for (const NodeInfo& info : plan) {
    const TfLiteNode& node = *info.node;
    const int32_t code = info.registration->builtin_code;
    if (node.outputs->size != 1 || node.inputs->size < 1) continue;
    const int output = node.outputs->data[0];
    if (output < 0 || output >= static_cast<int>(context->tensors_size)) continue;
    const TfLiteTensor& out = context->tensors[output];
    if (!IsIndexType(out.type) || out.dims == nullptr || out.allocation_type == kTfLiteDynamic) continue;
    const Shape out_shape = Dims(out);
    // The data inputs: every input of a concatenation, the first of the others.
    const int data_inputs = code == kTfLiteBuiltinConcatenation ? node.inputs->size : 1;
    std::vector<const std::vector<int64_t>*> inputs;
    std::vector<Shape> shapes;
    bool ok = true;
    for (int i = 0; ok && i < data_inputs; ++i) {
      const int index = node.inputs->data[i];
      const std::vector<int64_t>* v = Values(context, index);
      ok = v != nullptr && context->tensors[index].type == out.type;
      if (ok) {
        inputs.push_back(v);
        shapes.push_back(Dims(context->tensors[index]));
      }
    }
    if (!ok) continue;
    std::vector<int64_t> result;
    switch (IsReshapeOp(code) ? kTfLiteBuiltinReshape : code) {
      case kTfLiteBuiltinReshape:
        ok = inputs[0]->size() == NumElements(out_shape);
        if (ok) result = *inputs[0];
        break;
      case kTfLiteBuiltinBroadcastTo:
        ok = BroadcastValues(*inputs[0], shapes[0], out_shape, &result);
        break;
      case kTfLiteBuiltinConcatenation: {
        const auto* p = static_cast<const TfLiteConcatenationParams*>(node.builtin_data);
        const int rank = static_cast<int>(out_shape.size());
        const int axis = p == nullptr ? -1 : (p->axis < 0 ? p->axis + rank : p->axis);
        ok = p != nullptr && p->activation == kTfLiteActNone && axis >= 0 && axis < rank;
        size_t outer = 1;
        for (int d = 0; ok && d < axis; ++d) outer *= static_cast<size_t>(out_shape[d]);
        int along = 0;
        for (size_t i = 0; ok && i < shapes.size(); ++i) {
          ok = shapes[i].size() == out_shape.size();
          for (int d = 0; ok && d < rank; ++d) ok = d == axis || shapes[i][d] == out_shape[d];
          if (ok) along += shapes[i][axis];
        }
        ok = ok && along == out_shape[axis];
        for (size_t o = 0; ok && o < outer; ++o) {
          for (size_t i = 0; i < inputs.size(); ++i) {
            const size_t chunk = inputs[i]->size() / outer;
            result.insert(result.end(), inputs[i]->begin() + o * chunk, inputs[i]->begin() + (o + 1) * chunk);
          }
        }
        break;
      }
      default:
        ok = false;
    }
    if (!ok || result.size() != NumElements(out_shape)) continue;
    values_[output] = std::move(result);
    folded_nodes_.insert(info.index);
  }
}

void WriteValues(const std::vector<int64_t>& values, TfLiteTensor* tensor) {
  for (size_t i = 0; i < values.size(); ++i) {
    switch (tensor->type) {
      case kTfLiteInt32: tensor->data.i32[i] = static_cast<int32_t>(values[i]); break;
      case kTfLiteInt64: tensor->data.i64[i] = values[i]; break;
      case kTfLiteBool: tensor->data.b[i] = values[i] != 0; break;
      default: return;
    }
  }
}

}  // namespace actsparse
