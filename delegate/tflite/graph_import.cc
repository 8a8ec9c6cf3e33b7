#include "delegate/tflite/graph_import.h"

#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include "delegate/graph/plan.h"
#include "delegate/operator/matmul.h"
#include "delegate/operator/pooling.h"
#include "delegate/tflite/abi_check.h"

namespace actsparse {
namespace {

const TfLiteTensor& T(const TfLiteContext* context, int index) { return context->tensors[index]; }

Shape Dims(const TfLiteTensor& t) { return Shape(t.dims->data, t.dims->data + t.dims->size); }

bool IsConstant(const TfLiteTensor& t) { return t.allocation_type == kTfLiteMmapRo && t.data.raw != nullptr; }

int SamePaddingBefore(int in, int out, int kernel, int stride, int dilation) {
  const int effective = dilation * (kernel - 1) + 1;
  return std::max((out - 1) * stride + effective - in, 0) / 2;
}

int WindowOutputSize(int in, int kernel, int stride, int dilation, bool same) {
  if (same) return (in + stride - 1) / stride;
  const int effective = dilation * (kernel - 1) + 1;
  return in < effective ? 0 : (in - effective) / stride + 1;
}

bool IsComparison(int32_t code) {
  return code == kTfLiteBuiltinGreater || code == kTfLiteBuiltinGreaterEqual || code == kTfLiteBuiltinLess ||
         code == kTfLiteBuiltinLessEqual || code == kTfLiteBuiltinEqual || code == kTfLiteBuiltinNotEqual;
}

bool IsInt(int32_t type) { return type == kTfLiteInt32 || type == kTfLiteInt64; }

// The types a partition holds (graph::DataType): int64 values as int32
// ones, which every int64 tensor the delegate reads fits (an ARG_MAX's
// indices, constants checked here, inputs checked at every run).
bool IsValueType(int32_t type) { return type == kTfLiteFloat32 || type == kTfLiteBool || IsInt(type); }

std::string TypeName(int32_t type) {
  switch (type) {
    case kTfLiteFloat32: return "float32";
    case kTfLiteInt32: return "int32";
    case kTfLiteInt64: return "int64";
    case kTfLiteBool: return "bool";
    default: return "of type " + std::to_string(type);
  }
}

// The ops that move, compare or compute ints and bools as well as floats:
// each checks its own types.
bool TakesAnyType(int32_t code) {
  switch (code) {
    case kTfLiteBuiltinAdd:
    case kTfLiteBuiltinSub:
    case kTfLiteBuiltinMul:
    case kTfLiteBuiltinMaximum:
    case kTfLiteBuiltinMinimum:
    case kTfLiteBuiltinLogicalAnd:
    case kTfLiteBuiltinLogicalOr:
    case kTfLiteBuiltinSelect:
    case kTfLiteBuiltinSelectV2:
    case kTfLiteBuiltinReshape:
    case kTfLiteBuiltinSqueeze:
    case kTfLiteBuiltinExpandDims:
    case kTfLiteBuiltinTranspose:
    case kTfLiteBuiltinSlice:
    case kTfLiteBuiltinStridedSlice:
    case kTfLiteBuiltinReverseV2:
    case kTfLiteBuiltinBroadcastTo:
    case kTfLiteBuiltinConcatenation:
    case kTfLiteBuiltinGatherNd:
    case kTfLiteBuiltinArgMax:
    case kTfLiteBuiltinArgMin:
    case kTfLiteBuiltinCast:
      return true;
    default:
      return IsComparison(code);
  }
}

// Reads one runtime node; every check that fails says what it saw.
class Importer {
 public:
  Importer(const TfLiteContext* context, const NodeInfo& info, const FoldedTensors& folded, graph::Node* out,
           std::string* why)
      : context_(context), info_(info), folded_(folded), node_(*info.node), out_(*out), why_(*why) {}

  bool Run() {
    const int code = info_.registration->builtin_code;
    out_ = graph::Node();
    // No spaces: the label names the step in profile tables.
    out_.label = BuiltinName(code) + "#" + std::to_string(info_.index);
    if (node_.outputs->size != 1) return Fail(std::to_string(node_.outputs->size) + " outputs");
    out_.output = node_.outputs->data[0];
    // The builtin kernels take 6 dims but for RESHAPE's and BROADCAST_TO's 8
    // (x.repeat: a rank-8 RESHAPE and BROADCAST_TO).
    max_rank_ = IsReshapeOp(code) || code == kTfLiteBuiltinBroadcastTo ? kMaxRank : 6;
    if (!TakesAnyType(code)) {
      if (!Activation(out_.output, "output")) return false;
    } else {
      const int32_t type = OutputType();
      if (!IsValueType(type)) return Fail("output tensor " + std::to_string(out_.output) + " is " + TypeName(type));
      if (!Activation(out_.output, "output", static_cast<TfLiteType>(type))) return false;
    }
    switch (code) {
      case kTfLiteBuiltinConv2d:
      case kTfLiteBuiltinDepthwiseConv2d:
        return Conv(code == kTfLiteBuiltinDepthwiseConv2d);
      case kTfLiteBuiltinFullyConnected:
        return FullyConnected();
      case kTfLiteBuiltinTransposeConv:
        return TransposeConv();
      case kTfLiteBuiltinAdd:
        return Binary(kernels::BinaryOp::kAdd, true);
      case kTfLiteBuiltinSub:
        return Binary(kernels::BinaryOp::kSub, true);
      case kTfLiteBuiltinMul:
        return Binary(kernels::BinaryOp::kMul, true);
      case kTfLiteBuiltinDiv:
        return Binary(kernels::BinaryOp::kDiv, true);
      case kTfLiteBuiltinMaximum:
        return Binary(kernels::BinaryOp::kMax, false);
      case kTfLiteBuiltinMinimum:
        return Binary(kernels::BinaryOp::kMin, false);
      case kTfLiteBuiltinSquaredDifference:
        return Binary(kernels::BinaryOp::kSquaredDifference, false);
      case kTfLiteBuiltinGreater:
        return Binary(kernels::BinaryOp::kGreater, false);
      case kTfLiteBuiltinGreaterEqual:
        return Binary(kernels::BinaryOp::kGreaterEqual, false);
      case kTfLiteBuiltinLess:
        return Binary(kernels::BinaryOp::kLess, false);
      case kTfLiteBuiltinLessEqual:
        return Binary(kernels::BinaryOp::kLessEqual, false);
      case kTfLiteBuiltinEqual:
        return Binary(kernels::BinaryOp::kEqual, false);
      case kTfLiteBuiltinNotEqual:
        return Binary(kernels::BinaryOp::kNotEqual, false);
      case kTfLiteBuiltinPow:
        return Binary(kernels::BinaryOp::kPow, false);
      case kTfLiteBuiltinFloorDiv:
        return Binary(kernels::BinaryOp::kFloorDiv, false);
      case kTfLiteBuiltinFloorMod:
        return Binary(kernels::BinaryOp::kFloorMod, false);
      case kTfLiteBuiltinAtan2:
        return Binary(kernels::BinaryOp::kAtan2, false);
      case kTfLiteBuiltinLogicalAnd:
      case kTfLiteBuiltinLogicalOr:
        return Logical(code == kTfLiteBuiltinLogicalAnd);
      case kTfLiteBuiltinSelect:
        return Select(false);
      case kTfLiteBuiltinSelectV2:
        return Select(true);
      case kTfLiteBuiltinRelu:
        return Unary(kernels::UnaryOp::kClamp, 0.0f, graph::kNoMax);
      case kTfLiteBuiltinRelu6:
        return Unary(kernels::UnaryOp::kClamp, 0.0f, 6.0f);
      case kTfLiteBuiltinReluN1To1:
        return Unary(kernels::UnaryOp::kClamp, -1.0f, 1.0f);
      case kTfLiteBuiltinRelu0To1:
        return Unary(kernels::UnaryOp::kClamp, 0.0f, 1.0f);
      case kTfLiteBuiltinLeakyRelu:
        if (node_.builtin_data == nullptr) return Fail("no parameters");
        out_.alpha = static_cast<const TfLiteLeakyReluParams*>(node_.builtin_data)->alpha;
        return Unary(kernels::UnaryOp::kLeakyRelu, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinLogistic:
        return Unary(kernels::UnaryOp::kSigmoid, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinTanh:
        return Unary(kernels::UnaryOp::kTanh, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinHardSwish:
        return Unary(kernels::UnaryOp::kHardSwish, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinRsqrt:
        return Unary(kernels::UnaryOp::kRsqrt, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinExp:
        return Unary(kernels::UnaryOp::kExp, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinLog:
        return Unary(kernels::UnaryOp::kLog, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinSqrt:
        return Unary(kernels::UnaryOp::kSqrt, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinAbs:
        return Unary(kernels::UnaryOp::kAbs, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinNeg:
        return Unary(kernels::UnaryOp::kNeg, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinSquare:
        return Unary(kernels::UnaryOp::kSquare, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinFloor:
        return Unary(kernels::UnaryOp::kFloor, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinCeil:
        return Unary(kernels::UnaryOp::kCeil, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinRound:
        return Unary(kernels::UnaryOp::kRound, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinSign:
        return Unary(kernels::UnaryOp::kSign, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinSin:
        return Unary(kernels::UnaryOp::kSin, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinCos:
        return Unary(kernels::UnaryOp::kCos, graph::kNoMin, graph::kNoMax);
      case kTfLiteBuiltinGelu: {
        const bool approximate =
            node_.builtin_data != nullptr && static_cast<const TfLiteGeluParams*>(node_.builtin_data)->approximate;
        return Unary(approximate ? kernels::UnaryOp::kGeluTanh : kernels::UnaryOp::kGelu, graph::kNoMin,
                     graph::kNoMax);
      }
      case kTfLiteBuiltinMaxPool2d:
      case kTfLiteBuiltinAveragePool2d:
        return Pool(code == kTfLiteBuiltinMaxPool2d);
      case kTfLiteBuiltinMean:
        return Mean(Reduction::kMean);
      case kTfLiteBuiltinSum:
        return Mean(Reduction::kSum);
      case kTfLiteBuiltinReduceMax:
        return Mean(Reduction::kMax);
      case kTfLiteBuiltinReduceMin:
        return Mean(Reduction::kMin);
      case kTfLiteBuiltinPad:
      case kTfLiteBuiltinPadv2:
        return Pad(code == kTfLiteBuiltinPadv2);
      case kTfLiteBuiltinMirrorPad:
        return MirrorPad();
      case kTfLiteBuiltinReshape:
      case kTfLiteBuiltinSqueeze:
      case kTfLiteBuiltinExpandDims:
        return Reshape();
      case kTfLiteBuiltinTranspose:
        return Transpose();
      case kTfLiteBuiltinSlice:
        return Slice();
      case kTfLiteBuiltinBroadcastTo:
        return BroadcastTo();
      case kTfLiteBuiltinStridedSlice:
        return StridedSlice();
      case kTfLiteBuiltinReverseV2:
        return Reverse();
      case kTfLiteBuiltinGatherNd:
        return GatherNd();
      case kTfLiteBuiltinArgMax:
      case kTfLiteBuiltinArgMin:
        return ArgReduce(code == kTfLiteBuiltinArgMax);
      case kTfLiteBuiltinCast:
        return Cast();
      case kTfLiteBuiltinConv3d:
        return Conv3D();
      case kTfLiteBuiltinCumsum:
        return Cumsum();
      case kTfLiteBuiltinConcatenation:
        return Concatenation();
      case kTfLiteBuiltinResizeNearestNeighbor:
        return Resize(graph::OpType::kResizeNearest);
      case kTfLiteBuiltinResizeBilinear:
        return Resize(graph::OpType::kResizeBilinear);
      case kTfLiteBuiltinSoftmax:
        return Softmax();
      case kTfLiteBuiltinBatchMatmul:
        return BatchMatMul();
      case kTfLiteBuiltinL2Normalization:
        return L2Normalization();
      case kTfLiteBuiltinStablehloReduceWindow:
        return ReduceWindow();
      default:
        return Fail("op not supported by the delegate");
    }
  }

 private:
  bool Fail(const std::string& message) {
    why_ = message;
    return false;
  }

  int Input(int i) const { return i < node_.inputs->size ? node_.inputs->data[i] : -1; }

  // A float32 activation (or float constant used as an operand), or a bool
  // one (kept as floats 1.0 / 0.0 inside the delegate: a comparison's output,
  // a SELECT's condition, also a constant or one folded from constants):
  // static shape, every dim >= 1, rank <= max_rank_.
  bool Activation(int tensor, const char* role, TfLiteType type = kTfLiteFloat32) {
    if (tensor < 0 || tensor >= static_cast<int>(context_->tensors_size)) {
      return Fail(std::string(role) + " tensor index " + std::to_string(tensor) + " out of range");
    }
    const TfLiteTensor& t = T(context_, tensor);
    const std::string name = std::string(role) + " tensor " + std::to_string(tensor);
    if (t.type != type) return Fail(name + " is " + TypeName(t.type) + ", not " + TypeName(type));
    if (t.type == kTfLiteInt64 && !Int64Fits(tensor)) {
      return Fail(name + " is an int64 constant with values beyond int32 (the delegate holds ints as int32)");
    }
    if (t.allocation_type == kTfLiteDynamic) return Fail(name + " has a dynamic shape");
    if (t.dims == nullptr || t.dims->size > max_rank_) {
      return Fail(name + " has no dims or rank > " + std::to_string(max_rank_));
    }
    for (int i = 0; i < t.dims->size; ++i) {
      if (t.dims->data[i] < 1) return Fail(name + " has shape " + ShapeText(Dims(t)));
    }
    return true;
  }

  // A tensor's type, kTfLiteNoType for an index outside the context.
  int32_t TypeOf(int tensor) const {
    return tensor >= 0 && tensor < static_cast<int>(context_->tensors_size) ? T(context_, tensor).type : kTfLiteNoType;
  }
  int32_t OutputType() const { return TypeOf(out_.output); }

  // A known int64 tensor's values all within int32 (anything else: true).
  bool Int64Fits(int tensor) const {
    const std::vector<int64_t>* known = folded_.Values(context_, tensor);
    if (known == nullptr) return true;
    for (int64_t v : *known) {
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) return false;
    }
    return true;
  }

  // An input a copy moves as it is (RESHAPE, TRANSPOSE, SLICE, ...): of the
  // output's type, whichever of float32, bool, int32 and int64 that is.
  bool SameAsOutput(int tensor, const char* role) {
    return Activation(tensor, role, static_cast<TfLiteType>(OutputType()));
  }

  bool FloatConstant(int tensor, const Shape& shape, const char* role, const float** data) {
    if (tensor < 0 || tensor >= static_cast<int>(context_->tensors_size)) return Fail(std::string(role) + " missing");
    const TfLiteTensor& t = T(context_, tensor);
    if (t.type != kTfLiteFloat32 || !IsConstant(t)) return Fail(std::string(role) + " is not a float32 constant");
    if (Dims(t) != shape) {
      return Fail(std::string(role) + " is " + ShapeText(Dims(t)) + ", expected " + ShapeText(shape));
    }
    *data = t.data.f;
    return true;
  }

  // A float32 constant of `channels` values, as [C] or with leading dims of
  // 1 ([1, 1, 1, C]: litert-torch's transposed-conv bias); read as [C].
  bool ChannelConstant(int tensor, int channels, const char* role, const float** data) {
    if (tensor >= 0 && tensor < static_cast<int>(context_->tensors_size) && T(context_, tensor).dims != nullptr) {
      const Shape dims = Dims(T(context_, tensor));
      if (!dims.empty() && dims.back() == channels && NumElements(dims) == static_cast<size_t>(channels)) {
        return FloatConstant(tensor, dims, role, data);
      }
    }
    return FloatConstant(tensor, {channels}, role, data);
  }

  // A single axis of `in`, known before the run (negatives count from the
  // end): CUMSUM's, ARG_MAX's.
  bool OneAxis(int tensor, const Shape& in, int* axis) {
    std::vector<int64_t> values;
    if (!IntConstant(tensor, "axis", &values)) return false;
    if (values.size() != 1) return Fail("axis has " + std::to_string(values.size()) + " values");
    const int64_t rank = static_cast<int64_t>(in.size()), a = values[0] < 0 ? values[0] + rank : values[0];
    if (a < 0 || a >= rank) return Fail("axis " + std::to_string(values[0]) + " out of range for " + ShapeText(in));
    *axis = static_cast<int>(a);
    return true;
  }

  // An int32/int64 tensor known before the run (a constant, or folded from
  // constants), flattened.
  bool IntConstant(int tensor, const char* role, std::vector<int64_t>* values) {
    if (tensor < 0 || tensor >= static_cast<int>(context_->tensors_size)) return Fail(std::string(role) + " missing");
    const TfLiteTensor& t = T(context_, tensor);
    const std::vector<int64_t>* known = folded_.Values(context_, tensor);
    if ((t.type != kTfLiteInt32 && t.type != kTfLiteInt64) || known == nullptr) {
      return Fail(std::string(role) + " is not an int32/int64 tensor known before the run");
    }
    *values = *known;
    return true;
  }

  // A fused activation as a clamp; TANH / SIGN_BIT / SIGMOID are not fused here.
  bool FusedActivation(int32_t activation) {
    switch (activation) {
      case kTfLiteActNone: return true;
      case kTfLiteActRelu: out_.act_min = 0.0f; return true;
      case kTfLiteActReluN1To1: out_.act_min = -1.0f; out_.act_max = 1.0f; return true;
      case kTfLiteActRelu6: out_.act_min = 0.0f; out_.act_max = 6.0f; return true;
      default: return Fail("fused activation " + std::to_string(activation) + " is not supported");
    }
  }

  // TRANSPOSE_CONV: [output shape, weights [O, KH, KW, I], input, (bias)];
  // any kernel, stride and padding (TransposeConvOperator).
  bool TransposeConv() {
    if (node_.inputs->size < 3 || node_.builtin_data == nullptr) {
      return Fail("needs output shape, weights, input and parameters");
    }
    const int weights = Input(1), input = Input(2), bias = node_.inputs->size > 3 ? Input(3) : -1;
    if (!Activation(input, "input")) return false;
    const Shape in = Dims(T(context_, input)), out = Dims(T(context_, out_.output));
    if (weights < 0 || T(context_, weights).dims == nullptr) return Fail("no weights");
    const Shape w = Dims(T(context_, weights));
    if (in.size() != 4 || out.size() != 4 || w.size() != 4 || in[0] != out[0] || w[0] != out[3] || w[3] != in[3]) {
      return Fail("input " + ShapeText(in) + ", weights " + ShapeText(w) + ", output " + ShapeText(out) +
                  " do not fit a transpose conv");
    }
    std::vector<int64_t> output_shape;
    if (!IntConstant(Input(0), "output shape", &output_shape)) return false;
    if (output_shape != std::vector<int64_t>(out.begin(), out.end())) {
      return Fail("output shape constant differs from the output " + ShapeText(out));
    }
    const auto* p = static_cast<const TfLiteTransposeConvParamsPrefix*>(node_.builtin_data);
    graph::Node::Conv& c = out_.conv;
    c.stride_height = p->stride_height;
    c.stride_width = p->stride_width;
    c.kernel_height = w[1];
    c.kernel_width = w[2];
    if (c.stride_height < 1 || c.stride_width < 1) return Fail("stride below 1");
    if (p->padding != kTfLitePaddingSame && p->padding != kTfLitePaddingValid) return Fail("unknown padding");
    // The builtin's padding: a conv's from the output (as its input) back to
    // the input size that output gives.
    const bool same = p->padding == kTfLitePaddingSame;
    auto padding = [&](int big, int kernel, int stride) {
      const int small = same ? (big + stride - 1) / stride : (big + stride - kernel) / stride;
      return std::max((small - 1) * stride + kernel - big, 0) / 2;
    };
    c.padding_top = padding(out[1], w[1], c.stride_height);
    c.padding_left = padding(out[2], w[2], c.stride_width);
    if (!FloatConstant(weights, w, "weights", &c.weights)) return false;
    if (bias >= 0 && !ChannelConstant(bias, out[3], "bias", &c.bias)) return false;
    out_.type = graph::OpType::kTransposeConv;
    out_.inputs = {input};
    return FusedActivation(p->activation);
  }

  bool Conv(bool depthwise) {
    if (node_.inputs->size < 2 || node_.builtin_data == nullptr) return Fail("needs input, weights and parameters");
    const int input = Input(0), weights = Input(1), bias = Input(2);
    if (!Activation(input, "input")) return false;
    const Shape in = Dims(T(context_, input)), out = Dims(T(context_, out_.output));
    if (weights < 0 || T(context_, weights).dims == nullptr) return Fail("no weights");
    const Shape w = Dims(T(context_, weights));
    if (in.size() != 4 || out.size() != 4 || w.size() != 4 || in[0] != out[0]) {
      return Fail("input " + ShapeText(in) + ", weights " + ShapeText(w) + ", output " + ShapeText(out) +
                  " are not NHWC / 4-D");
    }
    int32_t padding, activation;
    graph::Node::Conv& c = out_.conv;
    if (depthwise) {
      const auto* p = static_cast<const TfLiteDepthwiseConvParams*>(node_.builtin_data);
      padding = p->padding;
      activation = p->activation;
      c.stride_width = p->stride_width;
      c.stride_height = p->stride_height;
      c.dilation_width = p->dilation_width_factor;
      c.dilation_height = p->dilation_height_factor;
      if (w[0] != 1 || w[3] != out[3] || out[3] % in[3] != 0) {
        return Fail("depthwise weights " + ShapeText(w) + " do not fit " + ShapeText(in) + " -> " + ShapeText(out));
      }
      c.depth_multiplier = out[3] / in[3];
      out_.type = graph::OpType::kDepthwiseConv2D;
    } else {
      const auto* p = static_cast<const TfLiteConvParamsPrefix*>(node_.builtin_data);
      padding = p->padding;
      activation = p->activation;
      c.stride_width = p->stride_width;
      c.stride_height = p->stride_height;
      c.dilation_width = p->dilation_width_factor;
      c.dilation_height = p->dilation_height_factor;
      if (w[0] != out[3] || in[3] % w[3] != 0 || out[3] % (in[3] / w[3]) != 0) {
        return Fail("conv weights " + ShapeText(w) + " do not fit " + ShapeText(in) + " -> " + ShapeText(out));
      }
      c.groups = in[3] / w[3];
      out_.type = graph::OpType::kConv2D;
    }
    if (!FloatConstant(weights, w, "weights", &c.weights)) return false;
    if (bias >= 0 && !ChannelConstant(bias, out[3], "bias", &c.bias)) return false;
    if (c.stride_height < 1 || c.stride_width < 1 || c.dilation_height < 1 || c.dilation_width < 1) {
      return Fail("stride or dilation below 1");
    }
    if (padding != kTfLitePaddingSame && padding != kTfLitePaddingValid) return Fail("unknown padding");
    const bool same = padding == kTfLitePaddingSame;
    c.kernel_height = w[1];
    c.kernel_width = w[2];
    if (WindowOutputSize(in[1], w[1], c.stride_height, c.dilation_height, same) != out[1] ||
        WindowOutputSize(in[2], w[2], c.stride_width, c.dilation_width, same) != out[2]) {
      return Fail("output " + ShapeText(out) + " does not follow from input " + ShapeText(in));
    }
    if (same) {
      c.padding_top = SamePaddingBefore(in[1], out[1], w[1], c.stride_height, c.dilation_height);
      c.padding_left = SamePaddingBefore(in[2], out[2], w[2], c.stride_width, c.dilation_width);
    }
    out_.inputs = {input};
    return FusedActivation(activation);
  }

  bool FullyConnected() {
    if (node_.inputs->size < 2 || node_.builtin_data == nullptr) return Fail("needs input, weights and parameters");
    const auto* p = static_cast<const TfLiteFullyConnectedParamsPrefix*>(node_.builtin_data);
    if (p->weights_format != 0) return Fail("weights format " + std::to_string(p->weights_format));
    const int input = Input(0), weights = Input(1), bias = Input(2);
    if (!Activation(input, "input")) return false;
    if (weights < 0 || T(context_, weights).dims == nullptr || T(context_, weights).dims->size != 2) {
      return Fail("weights are not 2-D");
    }
    const Shape w = Dims(T(context_, weights));
    const Shape in = Dims(T(context_, input)), out = Dims(T(context_, out_.output));
    const size_t rows = NumElements(in) / static_cast<size_t>(w[1]);
    if (rows * static_cast<size_t>(w[1]) != NumElements(in) || out.empty() || out.back() != w[0] ||
        NumElements(out) != rows * static_cast<size_t>(w[0])) {
      return Fail("input " + ShapeText(in) + ", weights " + ShapeText(w) + ", output " + ShapeText(out) + " do not fit");
    }
    out_.type = graph::OpType::kFullyConnected;
    if (!FloatConstant(weights, w, "weights", &out_.conv.weights)) return false;
    if (bias >= 0 && !ChannelConstant(bias, w[0], "bias", &out_.conv.bias)) return false;
    out_.conv.input_size = w[1];
    out_.inputs = {input};
    return FusedActivation(p->activation);
  }

  bool Binary(kernels::BinaryOp op, bool has_activation) {
    if (node_.inputs->size != 2) return Fail("needs two inputs");
    const bool compares = kernels::IsComparisonOp(op);
    if (IsInt(TypeOf(Input(0)))) return IntBinary(op, compares, has_activation);
    for (int i = 0; i < 2; ++i) {
      if (!Activation(Input(i), i == 0 ? "first input" : "second input")) return false;
    }
    if (OutputType() != (compares ? kTfLiteBool : kTfLiteFloat32)) {
      return Fail("output is " + TypeName(OutputType()) + ", not " + (compares ? "bool" : "float32"));
    }
    if (!BroadcastShapes()) return false;
    const Shape a = Dims(T(context_, Input(0))), b = Dims(T(context_, Input(1)));
    const size_t rank = std::max(a.size(), b.size());
    // What the builtin kernels take (claimed beyond it, a model would run
    // only through the delegate): ATAN2 operands of one shape; POW,
    // FLOOR_DIV and FLOOR_MOD broadcast through 4-D slow paths.
    if (op == kernels::BinaryOp::kAtan2 && a != b) return Fail("operands of two shapes (the builtin does not broadcast)");
    const bool four_d = op == kernels::BinaryOp::kPow || op == kernels::BinaryOp::kFloorDiv ||
                        op == kernels::BinaryOp::kFloorMod;
    if (four_d && a != b && rank > 4) return Fail("a broadcast above 4-D (the builtin kernel's limit)");
    out_.type = graph::OpType::kBinary;
    out_.binary_op = op;
    out_.inputs = {Input(0), Input(1)};
    if (!has_activation || node_.builtin_data == nullptr) return true;
    return FusedActivation(static_cast<const TfLiteActivationParamsPrefix*>(node_.builtin_data)->activation);
  }

  // The output's shape is the inputs' NumPy broadcast (right-aligned).
  bool BroadcastShapes() {
    const Shape a = Dims(T(context_, Input(0))), b = Dims(T(context_, Input(1)));
    const Shape out = Dims(T(context_, out_.output));
    const size_t rank = std::max(a.size(), b.size());
    Shape expected(rank, 1);
    for (size_t i = 0; i < rank; ++i) {
      const int da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
      const int db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
      if (da != db && da != 1 && db != 1) return Fail(ShapeText(a) + " and " + ShapeText(b) + " do not broadcast");
      expected[i] = std::max(da, db);
    }
    if (expected != out) return Fail("output " + ShapeText(out) + " is not the broadcast shape " + ShapeText(expected));
    return true;
  }

  // ADD, SUB, MUL, MAXIMUM, MINIMUM and the comparisons of two int32 (or
  // int64, compared) tensors: grid_sample's index arithmetic. The int
  // arithmetic wraps as the builtin's; int64 arithmetic (which would not)
  // and a fused activation on ints stay with the runtime.
  bool IntBinary(kernels::BinaryOp op, bool compares, bool has_activation) {
    static const std::pair<kernels::BinaryOp, kernels::BinaryOp> kIntOps[] = {
        {kernels::BinaryOp::kAdd, kernels::BinaryOp::kIntAdd},
        {kernels::BinaryOp::kSub, kernels::BinaryOp::kIntSub},
        {kernels::BinaryOp::kMul, kernels::BinaryOp::kIntMul},
        {kernels::BinaryOp::kMax, kernels::BinaryOp::kIntMax},
        {kernels::BinaryOp::kMin, kernels::BinaryOp::kIntMin},
        {kernels::BinaryOp::kGreater, kernels::BinaryOp::kIntGreater},
        {kernels::BinaryOp::kGreaterEqual, kernels::BinaryOp::kIntGreaterEqual},
        {kernels::BinaryOp::kLess, kernels::BinaryOp::kIntLess},
        {kernels::BinaryOp::kLessEqual, kernels::BinaryOp::kIntLessEqual},
        {kernels::BinaryOp::kEqual, kernels::BinaryOp::kIntEqual},
        {kernels::BinaryOp::kNotEqual, kernels::BinaryOp::kIntNotEqual},
    };
    const auto* found = std::find_if(std::begin(kIntOps), std::end(kIntOps),
                                     [&](const auto& pair) { return pair.first == op; });
    if (found == std::end(kIntOps)) return Fail("an int op the delegate does not compute on ints");
    const TfLiteType type = static_cast<TfLiteType>(T(context_, Input(0)).type);
    if (!Activation(Input(0), "first input", type) || !Activation(Input(1), "second input", type)) return false;
    if (!compares && (type != kTfLiteInt32 || OutputType() != kTfLiteInt32)) {
      return Fail("int64 arithmetic (the delegate computes ints as int32)");
    }
    if (compares && OutputType() != kTfLiteBool) return Fail("output is " + TypeName(OutputType()) + ", not bool");
    if (!BroadcastShapes()) return false;
    if (has_activation && node_.builtin_data != nullptr &&
        static_cast<const TfLiteActivationParamsPrefix*>(node_.builtin_data)->activation != kTfLiteActNone) {
      return Fail("a fused activation on ints");
    }
    out_.type = graph::OpType::kIntBinary;
    out_.binary_op = found->second;
    out_.inputs = {Input(0), Input(1)};
    return true;
  }

  // LOGICAL_AND / LOGICAL_OR of bools, which the partition holds as 1.0 /
  // 0.0: MINIMUM / MAXIMUM of those floats, exactly.
  bool Logical(bool and_op) {
    if (node_.inputs->size != 2) return Fail("needs two inputs");
    if (!Activation(Input(0), "first input", kTfLiteBool) || !Activation(Input(1), "second input", kTfLiteBool)) {
      return false;
    }
    if (OutputType() != kTfLiteBool) return Fail("output is " + TypeName(OutputType()) + ", not bool");
    if (!BroadcastShapes()) return false;
    out_.type = graph::OpType::kBinary;
    out_.binary_op = and_op ? kernels::BinaryOp::kMin : kernels::BinaryOp::kMax;
    out_.inputs = {Input(0), Input(1)};
    return true;
  }

  // SELECT / SELECT_V2 with a bool condition: ELU's, softplus's and Mish's
  // select, torch.where. SELECT_V2 broadcasts its three inputs (NumPy's
  // rule); SELECT takes them of the output's shape (its rank-1 condition,
  // one per row, is not run).
  bool Select(bool broadcasts) {
    if (node_.inputs->size != 3) return Fail("needs a condition and two values");
    if (!Activation(Input(0), "condition", kTfLiteBool) || !SameAsOutput(Input(1), "first value") ||
        !SameAsOutput(Input(2), "second value")) {
      return false;
    }
    const Shape out = Dims(T(context_, out_.output));
    for (int i = 0; i < 3; ++i) {
      const Shape in = Dims(T(context_, Input(i)));
      if (broadcasts ? !BroadcastsTo(in, out) : in != out) {
        return Fail("input " + std::to_string(i) + " is " + ShapeText(in) +
                    (broadcasts ? ", which does not broadcast to " : ", not ") + "the output's " + ShapeText(out));
      }
    }
    out_.type = graph::OpType::kSelect;
    out_.inputs = {Input(0), Input(1), Input(2)};
    return true;
  }

  bool Unary(kernels::UnaryOp op, float lo, float hi) {
    if (node_.inputs->size < 1 || !Activation(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    if (Dims(T(context_, Input(0))) != Dims(T(context_, out_.output))) return Fail("input and output shapes differ");
    out_.type = graph::OpType::kUnary;
    out_.unary_op = op;
    out_.act_min = lo;
    out_.act_max = hi;
    out_.inputs = {Input(0)};
    return true;
  }

  bool Pool(bool max) {
    if (node_.inputs->size < 1 || node_.builtin_data == nullptr) return Fail("needs an input and parameters");
    if (!Activation(Input(0), "input")) return false;
    const auto* p = static_cast<const TfLitePoolParamsPrefix*>(node_.builtin_data);
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    if (in.size() != 4 || out.size() != 4 || in[0] != out[0] || in[3] != out[3]) {
      return Fail("input " + ShapeText(in) + " and output " + ShapeText(out) + " are not NHWC alike");
    }
    graph::Node::Pool& pool = out_.pool;
    pool.filter_height = p->filter_height;
    pool.filter_width = p->filter_width;
    pool.stride_height = p->stride_height;
    pool.stride_width = p->stride_width;
    if (pool.filter_height < 1 || pool.filter_width < 1 || pool.stride_height < 1 || pool.stride_width < 1) {
      return Fail("filter or stride below 1");
    }
    if (p->padding != kTfLitePaddingSame && p->padding != kTfLitePaddingValid) return Fail("unknown padding");
    const bool same = p->padding == kTfLitePaddingSame;
    if (WindowOutputSize(in[1], pool.filter_height, pool.stride_height, 1, same) != out[1] ||
        WindowOutputSize(in[2], pool.filter_width, pool.stride_width, 1, same) != out[2]) {
      return Fail("output " + ShapeText(out) + " does not follow from input " + ShapeText(in));
    }
    if (same) {
      pool.padding_top = SamePaddingBefore(in[1], out[1], pool.filter_height, pool.stride_height, 1);
      pool.padding_left = SamePaddingBefore(in[2], out[2], pool.filter_width, pool.stride_width, 1);
    }
    out_.type = max ? graph::OpType::kMaxPool2D : graph::OpType::kAveragePool2D;
    out_.inputs = {Input(0)};
    return FusedActivation(p->activation);
  }

  // MEAN, SUM (litert-torch writes a mean over a 1x1 map as a SUM) or
  // REDUCE_MAX over a contiguous range of axes.
  bool Mean(Reduction reduction) {
    if (node_.inputs->size != 2 || node_.builtin_data == nullptr) return Fail("needs input, axes and parameters");
    if (!Activation(Input(0), "input")) return false;
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    std::vector<int64_t> axes;
    if (!IntConstant(Input(1), "axes", &axes)) return false;
    std::set<int> unique;
    for (int64_t axis : axes) {
      const int64_t a = axis < 0 ? axis + static_cast<int64_t>(in.size()) : axis;
      if (a < 0 || a >= static_cast<int64_t>(in.size())) return Fail("axis " + std::to_string(axis) + " out of range");
      unique.insert(static_cast<int>(a));
    }
    if (unique.empty()) return Fail("no axes");
    // A dim of 1 adds nothing to a sum, a count or a maximum (litert-torch's
    // LayerNorm reduces [1, N, C] over axes 0 and 2); only those: a copy.
    std::set<int> wide;
    for (int a : unique) {
      if (in[a] != 1) wide.insert(a);
    }
    if (wide.empty()) {
      if (NumElements(out) != NumElements(in)) return Fail("output " + ShapeText(out) + " does not fit");
      out_.type = graph::OpType::kReshape;
      out_.inputs = {Input(0)};
      return true;
    }
    out_.axes.assign(wide.begin(), wide.end());
    size_t reduced = 1;
    for (int a : out_.axes) reduced *= static_cast<size_t>(in[a]);
    if (NumElements(out) * reduced != NumElements(in)) return Fail("output " + ShapeText(out) + " does not fit");
    out_.type = graph::OpType::kMean;
    out_.reduction = reduction;
    out_.inputs = {Input(0)};
    return true;
  }

  // PAD / PADV2 / MIRROR_PAD: input, paddings [rank, 2] (before, after).
  bool Paddings() {
    if (node_.inputs->size < 2) return Fail("needs input and paddings");
    if (!Activation(Input(0), "input")) return false;
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    std::vector<int64_t> amounts;
    if (!IntConstant(Input(1), "paddings", &amounts)) return false;
    if (amounts.size() != 2 * in.size()) return Fail("paddings do not cover the input's rank");
    out_.paddings.clear();
    for (size_t i = 0; i < in.size(); ++i) {
      const int64_t before = amounts[2 * i], after = amounts[2 * i + 1];
      if (before < 0 || after < 0 || before > (1 << 20) || after > (1 << 20)) return Fail("padding out of range");
      if (in[i] + before + after != out[i]) return Fail("padded shape is not " + ShapeText(out));
      out_.paddings.emplace_back(static_cast<int>(before), static_cast<int>(after));
    }
    out_.type = graph::OpType::kPad;
    out_.inputs = {Input(0)};
    return true;
  }

  bool MirrorPad() {
    if (node_.builtin_data == nullptr) return Fail("no parameters");
    const auto mode = static_cast<const TfLiteMirrorPaddingParams*>(node_.builtin_data)->mode;
    if (mode != kTfLiteMirrorPaddingReflect && mode != kTfLiteMirrorPaddingSymmetric) {
      return Fail("mirror padding mode " + std::to_string(static_cast<int>(mode)) + " is not REFLECT or SYMMETRIC");
    }
    if (!Paddings()) return false;
    out_.pad_mode = mode == kTfLiteMirrorPaddingReflect ? PadMode::kReflect : PadMode::kSymmetric;
    const Shape in = Dims(T(context_, Input(0)));
    for (size_t i = 0; i < in.size(); ++i) {
      const int most = MaxMirrorPadding(out_.pad_mode, in[i]);
      if (std::max(out_.paddings[i].first, out_.paddings[i].second) > most) {
        return Fail("mirror padding of dim " + std::to_string(i) + " reaches past the input " + ShapeText(in) +
                    " (at most " + std::to_string(most) + ")");
      }
    }
    return true;
  }

  bool Pad(bool v2) {
    if (v2 && node_.inputs->size < 3) return Fail("needs input, paddings and a pad value");
    if (!Paddings()) return false;
    if (v2) {
      const float* value = nullptr;
      const int tensor = Input(2);
      if (tensor < 0 || T(context_, tensor).type != kTfLiteFloat32 || !IsConstant(T(context_, tensor)) ||
          NumElements(Dims(T(context_, tensor))) != 1) {
        return Fail("pad value is not a float32 constant scalar");
      }
      value = T(context_, tensor).data.f;
      out_.pad_value = *value;
    }
    return true;
  }

  bool Reshape() {
    if (node_.inputs->size < 1 || !SameAsOutput(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    if (NumElements(Dims(T(context_, Input(0)))) != NumElements(Dims(T(context_, out_.output)))) {
      return Fail("changes the number of elements");
    }
    out_.type = graph::OpType::kReshape;
    out_.inputs = {Input(0)};
    return true;
  }

  // SLICE(input, begin, size): a size of -1 runs to the end of its dim; the
  // output tensor's shape must be what begin and size give.
  // BROADCAST_TO: the target shape a constant, the output's static shape.
  bool BroadcastTo() {
    if (node_.inputs->size != 2 || !SameAsOutput(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    std::vector<int64_t> shape;
    if (!IntConstant(Input(1), "shape", &shape)) return false;
    const Shape out = Dims(T(context_, out_.output));
    if (!std::equal(shape.begin(), shape.end(), out.begin(), out.end())) {
      return Fail("shape constant differs from the output " + ShapeText(out));
    }
    // The input's dims line up with the output's last ones, each equal or 1.
    const Shape in = Dims(T(context_, Input(0)));
    bool broadcasts = in.size() <= out.size();
    for (size_t i = 0; broadcasts && i < in.size(); ++i) {
      broadcasts = in[i] == 1 || in[i] == out[out.size() - in.size() + i];
    }
    if (!broadcasts) return Fail("input " + ShapeText(in) + " does not broadcast to " + ShapeText(out));
    out_.type = graph::OpType::kBroadcastTo;
    out_.inputs = {Input(0)};
    return true;
  }

  // STRIDED_SLICE with constant begin / end / strides (non-zero; negative
  // walks backwards), and no ellipsis, new-axis or shrink-axis masks (the
  // output keeps the rank).
  bool StridedSlice() {
    if (node_.inputs->size != 4 || node_.builtin_data == nullptr || !SameAsOutput(Input(0), "input")) {
      return Fail(why_.empty() ? "needs input, begin, end, strides and parameters" : why_);
    }
    const auto* p = static_cast<const TfLiteStridedSliceParams*>(node_.builtin_data);
    if (p->ellipsis_mask != 0 || p->new_axis_mask != 0 || p->shrink_axis_mask != 0 || p->offset) {
      return Fail("ellipsis, new-axis or shrink-axis masks, or offset ends, are not supported");
    }
    std::vector<int64_t> begin, end, strides;
    if (!IntConstant(Input(1), "begin", &begin) || !IntConstant(Input(2), "end", &end) ||
        !IntConstant(Input(3), "strides", &strides)) {
      return false;
    }
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    const size_t rank = in.size();
    if (begin.size() != rank || end.size() != rank || strides.size() != rank || out.size() != rank) {
      return Fail("begin, end and strides do not cover the input's rank");
    }
    out_.begin.clear();
    out_.strides.clear();
    for (size_t d = 0; d < rank; ++d) {
      const int64_t dim = in[d], stride = strides[d];
      if (stride == 0) return Fail("stride 0 of dim " + std::to_string(d));
      // The builtin's bounds: a masked begin / end is the walk's first /
      // one-past-last index; a negative one counts from the end; both are
      // clamped to [0, dim] walking forwards, [-1, dim - 1] backwards.
      const bool forwards = stride > 0;
      int64_t b = begin[d], e = end[d];
      if ((p->begin_mask >> d) & 1) {
        b = forwards ? 0 : dim - 1;
      } else if (b < 0) {
        b += dim;
      }
      if ((p->end_mask >> d) & 1) {
        e = forwards ? dim : -1;
      } else if (e < 0) {
        e += dim;
      }
      const int64_t lowest = forwards ? 0 : -1, highest = forwards ? dim : dim - 1;
      b = std::min(std::max(b, lowest), highest);
      e = std::min(std::max(e, lowest), highest);
      const int64_t span = forwards ? e - b : b - e, step = forwards ? stride : -stride;
      const int64_t size = span > 0 ? (span + step - 1) / step : 0;
      if (size != out[d]) {
        return Fail("output " + ShapeText(out) + " is not the strided slice's shape (dim " + std::to_string(d) +
                    ": " + std::to_string(size) + ")");
      }
      out_.begin.push_back(static_cast<int>(b));
      out_.strides.push_back(static_cast<int>(stride));
    }
    out_.type = graph::OpType::kStridedSlice;
    out_.inputs = {Input(0)};
    return true;
  }

  // REVERSE_V2 (torch.flip): the input walked backwards along `axis`'s
  // dims, a strided slice of stride -1 from each such dim's last index.
  // The axes as the builtin kernel takes them (else it fails at Invoke, and
  // claimed, the model would run only through the delegate): an int32
  // constant, negatives counting from the end, contiguous once sorted.
  bool Reverse() {
    if (node_.inputs->size != 2 || !SameAsOutput(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    if (T(context_, Input(1)).type != kTfLiteInt32) return Fail("axis is not int32");
    std::vector<int64_t> axes;
    if (!IntConstant(Input(1), "axis", &axes)) return false;
    const Shape in = Dims(T(context_, Input(0)));
    if (Dims(T(context_, out_.output)) != in) return Fail("output shape differs from the input " + ShapeText(in));
    const int64_t rank = static_cast<int64_t>(in.size());
    for (int64_t& a : axes) {
      if (a < 0) a += rank;
      if (a < 0 || a >= rank) return Fail("axis out of range for " + ShapeText(in));
    }
    std::sort(axes.begin(), axes.end());
    for (size_t i = 1; i < axes.size(); ++i) {
      if (axes[i] != axes[i - 1] + 1) return Fail("axes are not contiguous (the builtin kernel refuses them)");
    }
    out_.begin.assign(in.size(), 0);
    out_.strides.assign(in.size(), 1);
    for (int64_t a : axes) {
      out_.begin[a] = in[a] - 1;
      out_.strides[a] = -1;
    }
    out_.type = graph::OpType::kStridedSlice;
    out_.inputs = {Input(0)};
    return true;
  }

  // GATHER_ND: the output is indices' shape but the last dim, k, then
  // params' dims past k; each index tuple picks one slice of params.
  // Indices known before the run (a constant, or folded from constants:
  // replicate padding, PSPNet's adaptive pools) become offsets, checked
  // here (out of range: left with the runtime, whose kernel fails on
  // them); indices computed in the run (grid_sample's) are read then, and
  // one out of range fails the run, as it fails the builtin's.
  bool GatherNd() {
    if (node_.inputs->size != 2 || !SameAsOutput(Input(0), "params")) return Fail(why_.empty() ? "no params" : why_);
    const int index_tensor = Input(1);
    if (!IsInt(TypeOf(index_tensor))) return Fail("indices are not int32 / int64");
    const Shape params = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    if (T(context_, index_tensor).dims == nullptr) return Fail("indices have no shape");
    const Shape index_shape = Dims(T(context_, index_tensor));
    const int k = index_shape.empty() ? 0 : index_shape.back();
    if (k < 1 || k > static_cast<int>(params.size())) {
      return Fail("indices " + ShapeText(index_shape) + " do not index params " + ShapeText(params));
    }
    Shape expected(index_shape.begin(), index_shape.end() - 1);
    expected.insert(expected.end(), params.begin() + k, params.end());
    if (expected != out) return Fail("output " + ShapeText(out) + " is not the gathered shape " + ShapeText(expected));
    if (folded_.Values(context_, index_tensor) == nullptr) {
      if (!Activation(index_tensor, "indices", static_cast<TfLiteType>(T(context_, index_tensor).type))) return false;
      out_.type = graph::OpType::kGatherNd;
      out_.inputs = {Input(0), index_tensor};
      return true;
    }
    std::vector<int64_t> indices;
    if (!IntConstant(index_tensor, "indices", &indices)) return false;
    size_t slice = 1;
    for (size_t d = static_cast<size_t>(k); d < params.size(); ++d) slice *= static_cast<size_t>(params[d]);
    out_.gather_offsets.clear();
    for (size_t tuple = 0; tuple < indices.size(); tuple += static_cast<size_t>(k)) {
      size_t offset = 0;
      for (int d = 0; d < k; ++d) {
        const int64_t i = indices[tuple + static_cast<size_t>(d)];
        if (i < 0 || i >= params[d]) {
          return Fail("index " + std::to_string(i) + " out of range for dim " + std::to_string(d) + " of params " +
                      ShapeText(params));
        }
        offset = offset * static_cast<size_t>(params[d]) + static_cast<size_t>(i);
      }
      out_.gather_offsets.push_back(offset * slice);
    }
    out_.type = graph::OpType::kGather;
    out_.inputs = {Input(0)};
    return true;
  }

  // CONV_3D over NDHWC: weights [KD, KH, KW, I, O] (no groups), an
  // optional bias, SAME or VALID padding, a fused activation.
  bool Conv3D() {
    if (node_.inputs->size < 2 || node_.builtin_data == nullptr) return Fail("needs input, weights and parameters");
    const int input = Input(0), weights = Input(1), bias = Input(2);
    if (!Activation(input, "input")) return false;
    if (weights < 0 || T(context_, weights).dims == nullptr) return Fail("no weights");
    const Shape in = Dims(T(context_, input)), out = Dims(T(context_, out_.output)), w = Dims(T(context_, weights));
    if (in.size() != 5 || out.size() != 5 || w.size() != 5 || in[0] != out[0] || w[3] != in[4] || w[4] != out[4]) {
      return Fail("input " + ShapeText(in) + ", weights " + ShapeText(w) + ", output " + ShapeText(out) +
                  " are not NDHWC / DHWIO");
    }
    const auto* p = static_cast<const TfLiteConv3DParams*>(node_.builtin_data);
    graph::Node::Conv& c = out_.conv;
    c.stride_depth = p->stride_depth;
    c.stride_height = p->stride_height;
    c.stride_width = p->stride_width;
    c.dilation_depth = p->dilation_depth_factor;
    c.dilation_height = p->dilation_height_factor;
    c.dilation_width = p->dilation_width_factor;
    if (c.stride_depth < 1 || c.stride_height < 1 || c.stride_width < 1 || c.dilation_depth < 1 ||
        c.dilation_height < 1 || c.dilation_width < 1) {
      return Fail("stride or dilation below 1");
    }
    if (p->padding != kTfLitePaddingSame && p->padding != kTfLitePaddingValid) return Fail("unknown padding");
    const bool same = p->padding == kTfLitePaddingSame;
    c.kernel_depth = w[0];
    c.kernel_height = w[1];
    c.kernel_width = w[2];
    const int strides[3] = {c.stride_depth, c.stride_height, c.stride_width};
    const int dilations[3] = {c.dilation_depth, c.dilation_height, c.dilation_width};
    int before[3] = {0, 0, 0};
    for (int d = 0; d < 3; ++d) {
      if (WindowOutputSize(in[d + 1], w[d], strides[d], dilations[d], same) != out[d + 1]) {
        return Fail("output " + ShapeText(out) + " does not follow from input " + ShapeText(in));
      }
      if (same) before[d] = SamePaddingBefore(in[d + 1], out[d + 1], w[d], strides[d], dilations[d]);
    }
    c.padding_front = before[0];
    c.padding_top = before[1];
    c.padding_left = before[2];
    if (!FloatConstant(weights, w, "weights", &c.weights)) return false;
    if (bias >= 0 && !ChannelConstant(bias, out[4], "bias", &c.bias)) return false;
    out_.type = graph::OpType::kConv3D;
    out_.inputs = {input};
    return FusedActivation(p->activation);
  }

  // CUMSUM over one constant axis, inclusive or exclusive, forwards or
  // reversed: a running sum in the axis's order, as the builtin's scan.
  bool Cumsum() {
    if (node_.inputs->size != 2 || node_.builtin_data == nullptr || !Activation(Input(0), "input")) {
      return Fail(why_.empty() ? "needs input, axis and parameters" : why_);
    }
    const Shape in = Dims(T(context_, Input(0)));
    if (Dims(T(context_, out_.output)) != in) return Fail("output shape differs from the input " + ShapeText(in));
    if (!OneAxis(Input(1), in, &out_.axis)) return false;
    const auto* p = static_cast<const TfLiteCumsumParams*>(node_.builtin_data);
    out_.type = graph::OpType::kCumsum;
    out_.cumsum_exclusive = p->exclusive;
    out_.cumsum_reverse = p->reverse;
    out_.inputs = {Input(0)};
    return true;
  }

  // ARG_MAX / ARG_MIN over one constant axis: the first index of the
  // largest (smallest) value, as the builtin walks from element 0 with a
  // strict comparison (a NaN after the first never wins); int32 / int64
  // indices (int32 inside the partition).
  bool ArgReduce(bool max) {
    if (node_.inputs->size != 2 || !Activation(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    if (!IsInt(OutputType())) return Fail("output is " + TypeName(OutputType()) + ", not int32 / int64");
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    int a = 0;
    if (!OneAxis(Input(1), in, &a)) return false;
    Shape expected = in;
    expected.erase(expected.begin() + a);
    if (expected != out) return Fail("output " + ShapeText(out) + " is not the input without axis " + std::to_string(a));
    out_.type = graph::OpType::kArgReduce;
    out_.reduction = max ? Reduction::kMax : Reduction::kMin;
    out_.axis = a;
    out_.inputs = {Input(0)};
    return true;
  }

  // CAST between float32, bool, int32 and int64 where the partition's
  // representation makes it exact: to float32 from float32 or bool (the
  // same floats: a copy) or from ints (converted); to int32 from float32
  // or bool (toward zero, as the builtin's static_cast on this CPU); int32
  // and int64 to each other (held alike). To int64 from floats (values
  // past int32) and to bool stay with the runtime.
  bool Cast() {
    if (node_.inputs->size < 1) return Fail("no input");
    const int input = Input(0);
    const int32_t from = TypeOf(input), to = OutputType();
    if (!IsValueType(from)) return Fail("input is " + TypeName(from));
    if (!Activation(input, "input", static_cast<TfLiteType>(from))) return false;
    if (Dims(T(context_, input)) != Dims(T(context_, out_.output))) return Fail("output shape differs from the input");
    out_.inputs = {input};
    if (to == kTfLiteFloat32 && IsInt(from)) {
      out_.type = graph::OpType::kCast;
      out_.cast_to = graph::DataType::kFloat32;
    } else if (to == kTfLiteInt32 && !IsInt(from)) {
      out_.type = graph::OpType::kCast;
      out_.cast_to = graph::DataType::kInt32;
    } else if ((to == kTfLiteFloat32 && !IsInt(from)) || (IsInt(to) && IsInt(from))) {
      out_.type = graph::OpType::kReshape;
    } else {
      return Fail("a cast from " + TypeName(from) + " to " + TypeName(to));
    }
    return true;
  }

  bool Slice() {
    if (node_.inputs->size != 3 || !SameAsOutput(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    std::vector<int64_t> begin, size;
    if (!IntConstant(Input(1), "begin", &begin) || !IntConstant(Input(2), "size", &size)) return false;
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    if (begin.size() != in.size() || size.size() != in.size() || out.size() != in.size()) {
      return Fail("begin and size do not cover the input's rank");
    }
    out_.begin.clear();
    for (size_t i = 0; i < in.size(); ++i) {
      const int64_t extent = size[i] == -1 ? in[i] - begin[i] : size[i];
      if (begin[i] < 0 || extent < 1 || begin[i] + extent > in[i]) {
        return Fail("slice of " + std::to_string(extent) + " from " + std::to_string(begin[i]) + " leaves dim " +
                    std::to_string(i) + " of " + ShapeText(in));
      }
      if (extent != out[i]) return Fail("output " + ShapeText(out) + " is not the slice's shape");
      out_.begin.push_back(static_cast<int>(begin[i]));
    }
    out_.type = graph::OpType::kSlice;
    out_.inputs = {Input(0)};
    return true;
  }

  bool Transpose() {
    if (node_.inputs->size != 2 || !SameAsOutput(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    std::vector<int64_t> perm;
    if (!IntConstant(Input(1), "permutation", &perm)) return false;
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    if (perm.size() != in.size()) return Fail("permutation does not cover the input's rank");
    out_.axes.clear();
    for (int64_t axis : perm) {
      if (axis < 0 || axis >= static_cast<int64_t>(in.size())) return Fail("permutation out of range");
      out_.axes.push_back(static_cast<int>(axis));
    }
    for (size_t i = 0; i < in.size(); ++i) {
      if (out[i] != in[out_.axes[i]]) return Fail("output " + ShapeText(out) + " is not the permuted input");
    }
    out_.type = graph::OpType::kTranspose;
    out_.inputs = {Input(0)};
    return true;
  }

  bool Concatenation() {
    if (node_.inputs->size < 1 || node_.builtin_data == nullptr) return Fail("needs inputs and parameters");
    const auto* p = static_cast<const TfLiteConcatenationParams*>(node_.builtin_data);
    const Shape out = Dims(T(context_, out_.output));
    const int rank = static_cast<int>(out.size());
    out_.axis = p->axis < 0 ? p->axis + rank : p->axis;
    if (out_.axis < 0 || out_.axis >= rank) return Fail("axis " + std::to_string(p->axis) + " out of range");
    int total = 0;
    for (int i = 0; i < node_.inputs->size; ++i) {
      if (!SameAsOutput(Input(i), "input")) return false;
      const Shape in = Dims(T(context_, Input(i)));
      for (int d = 0; d < rank; ++d) {
        if (static_cast<int>(in.size()) != rank || (d != out_.axis && in[d] != out[d])) {
          return Fail("input " + ShapeText(in) + " does not fit output " + ShapeText(out));
        }
      }
      total += in[out_.axis];
      out_.inputs.push_back(Input(i));
    }
    if (total != out[out_.axis]) return Fail("inputs do not add up to the output");
    // The builtin kernels refuse one too: there is no reference to match.
    if (p->activation != kTfLiteActNone) return Fail("fused activation on a concatenation");
    out_.type = graph::OpType::kConcatenation;
    return true;
  }

  // RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR: their parameters are laid
  // out alike (align_corners, half_pixel_centers).
  bool Resize(graph::OpType type) {
    if (node_.inputs->size < 1 || node_.builtin_data == nullptr || !Activation(Input(0), "input")) {
      return Fail(why_.empty() ? "needs an input and parameters" : why_);
    }
    bool align_corners, half_pixel_centers;
    if (type == graph::OpType::kResizeBilinear) {
      const auto* p = static_cast<const TfLiteResizeBilinearParams*>(node_.builtin_data);
      align_corners = p->align_corners;
      half_pixel_centers = p->half_pixel_centers;
    } else {
      const auto* p = static_cast<const TfLiteResizeNearestNeighborParams*>(node_.builtin_data);
      align_corners = p->align_corners;
      half_pixel_centers = p->half_pixel_centers;
    }
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    if (in.size() != 4 || out.size() != 4 || in[0] != out[0] || in[3] != out[3]) {
      return Fail("input " + ShapeText(in) + " and output " + ShapeText(out) + " are not NHWC alike");
    }
    out_.align_corners = align_corners;
    out_.half_pixel_centers = half_pixel_centers;
    out_.type = type;
    out_.inputs = {Input(0)};
    return true;
  }

  bool Softmax() {
    if (node_.inputs->size < 1 || node_.builtin_data == nullptr || !Activation(Input(0), "input")) {
      return Fail(why_.empty() ? "needs an input and parameters" : why_);
    }
    if (Dims(T(context_, Input(0))) != Dims(T(context_, out_.output))) return Fail("input and output shapes differ");
    out_.beta = static_cast<const TfLiteSoftmaxParams*>(node_.builtin_data)->beta;
    out_.type = graph::OpType::kSoftmax;
    out_.inputs = {Input(0)};
    return true;
  }

  // STABLEHLO_REDUCE_WINDOW as a pool: over one dim or two neighbouring
  // ones of any operand (H and W of NHWC; the channels of NCHW, a local
  // response norm's window sum), window and stride 1 and no padding on the
  // others, no dilations; its body one ADD from an initial value of 0 (a
  // window sum: litert-torch's average pool that leaves padding out is one
  // over the input divided by one over ones) or one MAXIMUM from -inf (a
  // max pool). Padded positions hold the initial value, which changes
  // neither.
  bool ReduceWindow() {
    if (node_.inputs->size != 2 || node_.builtin_data == nullptr) {
      return Fail("needs an operand, an initial value and parameters");
    }
    if (!Activation(Input(0), "operand")) return false;
    const float* init = nullptr;
    if (!FloatConstant(Input(1), {}, "initial value", &init)) return false;
    const auto* p = static_cast<const TfLiteStablehloReduceWindowParams*>(node_.builtin_data);
    const Shape in = Dims(T(context_, Input(0))), out = Dims(T(context_, out_.output));
    const int rank = static_cast<int>(in.size());
    if (out.size() != in.size()) return Fail("operand " + ShapeText(in) + " and output " + ShapeText(out));
    std::vector<int> pooled;  // the dims with a window, a stride or padding
    for (int d = 0; d < rank; ++d) {
      if (p->base_dilations[d] != 1 || p->window_dilations[d] != 1) return Fail("dilations are not run");
      const int64_t k = p->window_dimensions[d], s = p->window_strides[d], lo = p->padding[2 * d],
                    hi = p->padding[2 * d + 1];
      if (k == 1 && s == 1 && lo == 0 && hi == 0) {
        if (in[d] != out[d]) return Fail("output " + ShapeText(out) + " does not follow from operand " + ShapeText(in));
        continue;
      }
      if (k < 1 || s < 1 || lo < 0 || hi < 0 || k > in[d] + lo + hi) {
        return Fail("window " + std::to_string(k) + ", stride " + std::to_string(s) + ", padding " +
                    std::to_string(lo) + " / " + std::to_string(hi) + " over dim " + std::to_string(d));
      }
      if ((in[d] + lo + hi - k) / s + 1 != out[d]) {
        return Fail("output " + ShapeText(out) + " does not follow from operand " + ShapeText(in));
      }
      pooled.push_back(d);
    }
    if (pooled.empty() || pooled.size() > 2 || (pooled.size() == 2 && pooled[1] != pooled[0] + 1)) {
      return Fail("windows over dims " + ShapeText(pooled) + " (one dim or two neighbours are run)");
    }
    int window[2] = {1, 1}, stride[2] = {1, 1}, low[2] = {0, 0};
    for (size_t i = 0; i < pooled.size(); ++i) {
      window[i] = static_cast<int>(p->window_dimensions[pooled[i]]);
      stride[i] = static_cast<int>(p->window_strides[pooled[i]]);
      low[i] = static_cast<int>(p->padding[2 * pooled[i]]);
    }
    out_.pool.height_axis = pooled[0];
    out_.pool.width_axis = pooled.size() == 2 ? pooled[1] : -1;
    int32_t body = -1;
    if (!BodyOp(p->body_subgraph_index, &body)) return false;
    if (body == kTfLiteBuiltinAdd && *init == 0.0f) {
      out_.type = graph::OpType::kSumPool2D;
    } else if (body == kTfLiteBuiltinMaximum && *init == -std::numeric_limits<float>::infinity()) {
      out_.type = graph::OpType::kMaxPool2D;
    } else {
      return Fail("a body of " + BuiltinName(body) + " from " + std::to_string(*init) +
                  " (ADD from 0 and MAXIMUM from -inf are run)");
    }
    graph::Node::Pool& pool = out_.pool;
    pool.filter_height = window[0];
    pool.filter_width = window[1];
    pool.stride_height = stride[0];
    pool.stride_width = stride[1];
    pool.padding_top = low[0];
    pool.padding_left = low[1];
    std::string error;
    if (!PoolWindowsSeeInput(graph::PoolParams(out_, in, out), &error)) return Fail(error);
    out_.inputs = {Input(0)};
    return true;
  }

  // The one op of body subgraph `index` (a StableHLO reduction's), read
  // through AcquireSubgraphContext: two float32 scalars in, one out, no
  // fused activation. The acquired context is released before returning.
  bool BodyOp(int index, int32_t* code) {
    // Acquire and Release switch the body's context, never ours.
    TfLiteContext* context = const_cast<TfLiteContext*>(context_);
    if (context->AcquireSubgraphContext == nullptr || context->ReleaseSubgraphContext == nullptr) {
      return Fail("the runtime does not show the reduction's body subgraph");
    }
    TfLiteContext* body = nullptr;
    if (index < 1 || context->AcquireSubgraphContext(context, index, &body) != kTfLiteOk || body == nullptr ||
        body == context) {
      return Fail("body subgraph " + std::to_string(index) + " cannot be read");
    }
    std::string why;
    const bool read = ReadBody(body, code, &why);
    context->ReleaseSubgraphContext(context, index);
    return read || Fail("body subgraph " + std::to_string(index) + ": " + why);
  }

  static bool ReadBody(TfLiteContext* body, int32_t* code, std::string* why) {
    TfLiteIntArray* plan = nullptr;
    if (!CheckContextAbi(body, why)) return false;
    if (body->GetExecutionPlan(body, &plan) != kTfLiteOk || plan == nullptr || plan->size != 1) {
      *why = "not one op";
      return false;
    }
    TfLiteNode* node = nullptr;
    TfLiteRegistration* registration = nullptr;
    if (body->GetNodeAndRegistration(body, plan->data[0], &node, &registration) != kTfLiteOk ||
        !CheckNodeAbi(body, plan->data[0], node, registration, why)) {
      return false;
    }
    if (node->inputs->size != 2 || node->outputs->size != 1) {
      *why = "its op has " + std::to_string(node->inputs->size) + " inputs";
      return false;
    }
    for (int t : {node->inputs->data[0], node->inputs->data[1], node->outputs->data[0]}) {
      if (t < 0 || !CheckTensorAbi(body, t, why)) return false;
      if (body->tensors[t].type != kTfLiteFloat32 || body->tensors[t].dims->size != 0) {
        *why = "tensor " + std::to_string(t) + " is not a float32 scalar";
        return false;
      }
    }
    *code = registration->builtin_code;
    if (*code == kTfLiteBuiltinAdd && node->builtin_data != nullptr &&
        static_cast<const TfLiteActivationParamsPrefix*>(node->builtin_data)->activation != kTfLiteActNone) {
      *why = "its ADD has a fused activation";
      return false;
    }
    return true;
  }

  // L2_NORMALIZATION over the innermost dim. A fused activation is refused,
  // as the builtin kernel refuses it at Prepare: the model would run only
  // through the delegate.
  bool L2Normalization() {
    if (node_.inputs->size != 1 || !Activation(Input(0), "input")) return Fail(why_.empty() ? "no input" : why_);
    if (Dims(T(context_, Input(0))) != Dims(T(context_, out_.output))) return Fail("input and output shapes differ");
    if (node_.builtin_data != nullptr &&
        static_cast<const TfLiteActivationParamsPrefix*>(node_.builtin_data)->activation != kTfLiteActNone) {
      return Fail("a fused activation (the builtin kernel runs none)");
    }
    out_.type = graph::OpType::kL2Normalization;
    out_.inputs = {Input(0)};
    return true;
  }

  // BATCH_MATMUL of two float32 tensors (activations or constants), either
  // operand adjoint, batch dims broadcast; the shape rule is the operator's.
  bool BatchMatMul() {
    if (node_.inputs->size != 2) return Fail("needs two inputs");
    if (!Activation(Input(0), "left operand") || !Activation(Input(1), "right operand")) return false;
    if (node_.builtin_data != nullptr) {
      const auto* p = static_cast<const TfLiteBatchMatMulParams*>(node_.builtin_data);
      out_.adj_x = p->adj_x;
      out_.adj_y = p->adj_y;
    }
    Shape product;
    std::string error;
    if (!MatMulOutputShape(Dims(T(context_, Input(0))), Dims(T(context_, Input(1))), out_.adj_x, out_.adj_y,
                           &product, &error)) {
      return Fail(error);
    }
    const Shape out = Dims(T(context_, out_.output));
    if (product != out) return Fail("output " + ShapeText(out) + " is not the product's " + ShapeText(product));
    out_.type = graph::OpType::kBatchMatMul;
    out_.inputs = {Input(0), Input(1)};
    return true;
  }

  const TfLiteContext* context_;
  const NodeInfo& info_;
  const FoldedTensors& folded_;
  int max_rank_ = 6;  // of every tensor the node reads or writes
  const TfLiteNode& node_;
  graph::Node& out_;
  std::string& why_;
};

}  // namespace

// The same ops as Importer::Run's switch (a test holds them together).
bool ImportsBuiltin(int32_t builtin_code) {
  switch (builtin_code) {
    case kTfLiteBuiltinConv2d:
    case kTfLiteBuiltinDepthwiseConv2d:
    case kTfLiteBuiltinFullyConnected:
    case kTfLiteBuiltinTransposeConv:
    case kTfLiteBuiltinAdd:
    case kTfLiteBuiltinSub:
    case kTfLiteBuiltinMul:
    case kTfLiteBuiltinDiv:
    case kTfLiteBuiltinMaximum:
    case kTfLiteBuiltinMinimum:
    case kTfLiteBuiltinSquaredDifference:
    case kTfLiteBuiltinRelu:
    case kTfLiteBuiltinRelu6:
    case kTfLiteBuiltinReluN1To1:
    case kTfLiteBuiltinLeakyRelu:
    case kTfLiteBuiltinLogistic:
    case kTfLiteBuiltinTanh:
    case kTfLiteBuiltinHardSwish:
    case kTfLiteBuiltinRsqrt:
    case kTfLiteBuiltinGelu:
    case kTfLiteBuiltinMaxPool2d:
    case kTfLiteBuiltinAveragePool2d:
    case kTfLiteBuiltinMean:
    case kTfLiteBuiltinSum:
    case kTfLiteBuiltinPad:
    case kTfLiteBuiltinPadv2:
    case kTfLiteBuiltinMirrorPad:
    case kTfLiteBuiltinReshape:
    case kTfLiteBuiltinSqueeze:
    case kTfLiteBuiltinExpandDims:
    case kTfLiteBuiltinTranspose:
    case kTfLiteBuiltinSlice:
    case kTfLiteBuiltinBroadcastTo:
    case kTfLiteBuiltinStridedSlice:
    case kTfLiteBuiltinConcatenation:
    case kTfLiteBuiltinResizeNearestNeighbor:
    case kTfLiteBuiltinResizeBilinear:
    case kTfLiteBuiltinSoftmax:
    case kTfLiteBuiltinBatchMatmul:
    case kTfLiteBuiltinL2Normalization:
    case kTfLiteBuiltinStablehloReduceWindow:
    case kTfLiteBuiltinSqrt:
    case kTfLiteBuiltinAbs:
    case kTfLiteBuiltinNeg:
    case kTfLiteBuiltinSquare:
    case kTfLiteBuiltinGreater:
    case kTfLiteBuiltinGreaterEqual:
    case kTfLiteBuiltinLess:
    case kTfLiteBuiltinLessEqual:
    case kTfLiteBuiltinEqual:
    case kTfLiteBuiltinNotEqual:
    case kTfLiteBuiltinSelect:
    case kTfLiteBuiltinSelectV2:
    case kTfLiteBuiltinExp:
    case kTfLiteBuiltinLog:
    case kTfLiteBuiltinReduceMax:
    case kTfLiteBuiltinReduceMin:
    case kTfLiteBuiltinRelu0To1:
    case kTfLiteBuiltinFloor:
    case kTfLiteBuiltinCeil:
    case kTfLiteBuiltinRound:
    case kTfLiteBuiltinSign:
    case kTfLiteBuiltinSin:
    case kTfLiteBuiltinCos:
    case kTfLiteBuiltinPow:
    case kTfLiteBuiltinReverseV2:
    case kTfLiteBuiltinGatherNd:
    case kTfLiteBuiltinArgMax:
    case kTfLiteBuiltinArgMin:
    case kTfLiteBuiltinCast:
    case kTfLiteBuiltinConv3d:
    case kTfLiteBuiltinCumsum:
    case kTfLiteBuiltinFloorDiv:
    case kTfLiteBuiltinFloorMod:
    case kTfLiteBuiltinAtan2:
    case kTfLiteBuiltinLogicalAnd:
    case kTfLiteBuiltinLogicalOr:
      return true;
    default:
      return false;
  }
}

bool ImportNode(const TfLiteContext* context, const NodeInfo& info, const FoldedTensors& folded, graph::Node* out,
                std::string* why) {
  why->clear();
  return Importer(context, info, folded, out, why).Run();
}

bool ImportNode(const TfLiteContext* context, const NodeInfo& info, graph::Node* out, std::string* why) {
  const FoldedTensors constants_only;
  return ImportNode(context, info, constants_only, out, why);
}

graph::Node ImportChain(const ChainPlan& chain) {
  graph::Node node;
  const SparseConvParams& p = chain.params;
  node.type = p.depthwise ? graph::OpType::kDepthwiseConv2D : graph::OpType::kConv2D;
  node.label = chain.meta.name;
  node.inputs = {chain.input_tensor};
  node.output = chain.output_tensor;
  node.act_min = p.output_min;
  node.act_max = p.output_max;
  graph::Node::Conv& c = node.conv;
  c.kernel_height = p.kernel_height;
  c.kernel_width = p.kernel_width;
  c.stride_height = p.stride_height;
  c.stride_width = p.stride_width;
  c.dilation_height = p.dilation_height;
  c.dilation_width = p.dilation_width;
  c.padding_top = p.padding_top;
  c.padding_left = p.padding_left;
  c.depth_multiplier = p.depth_multiplier;
  c.groups = p.groups;
  c.weights = chain.weights;
  c.bias = chain.conv_bias;
  c.mask_add_bias = chain.add_bias;
  c.mask = chain.meta.mask;
  return node;
}

}  // namespace actsparse
