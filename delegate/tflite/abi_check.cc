#include "delegate/tflite/abi_check.h"

namespace actsparse {
namespace {

// Far above any real model, far below what garbage pointers usually decode to.
constexpr size_t kMaxTensors = size_t{1} << 24;
constexpr int kMaxNodeIo = 1 << 16;
constexpr int kMaxBuiltinCode = 1024;
constexpr int kMaxRank = 8;

bool CheckIndexList(const TfLiteContext* context, const TfLiteIntArray* list,
                    const char* what, int node_index, std::string* why) {
  if (list == nullptr) {
    *why = "node " + std::to_string(node_index) + " has a null " + what + " list";
    return false;
  }
  if (list->size < 0 || list->size > kMaxNodeIo) {
    *why = "node " + std::to_string(node_index) + " has " + std::to_string(list->size) + " " +
           what + "s";
    return false;
  }
  for (int i = 0; i < list->size; ++i) {
    const int tensor = list->data[i];
    // -1 marks an omitted optional input.
    if (tensor < -1 || (tensor >= 0 && static_cast<size_t>(tensor) >= context->tensors_size)) {
      *why = "node " + std::to_string(node_index) + " " + what + " " + std::to_string(i) +
             " is tensor " + std::to_string(tensor) + ", outside [0, " +
             std::to_string(context->tensors_size) + ")";
      return false;
    }
  }
  return true;
}

}  // namespace

size_t TfLiteTypeSize(int32_t type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32:
    case kTfLiteUInt32:
      return 4;
    case kTfLiteUInt8:
    case kTfLiteInt8:
    case kTfLiteBool:
      return 1;
    case kTfLiteInt64:
    case kTfLiteUInt64:
    case kTfLiteFloat64:
    case kTfLiteComplex64:
      return 8;
    case kTfLiteInt16:
    case kTfLiteUInt16:
    case kTfLiteFloat16:
    case kTfLiteBFloat16:
      return 2;
    case kTfLiteComplex128:
      return 16;
    default:
      return 0;
  }
}

std::string BuiltinName(int32_t builtin_code) {
  switch (builtin_code) {
    case kTfLiteBuiltinAdd: return "ADD";
    case kTfLiteBuiltinAveragePool2d: return "AVERAGE_POOL_2D";
    case kTfLiteBuiltinConcatenation: return "CONCATENATION";
    case kTfLiteBuiltinConv2d: return "CONV_2D";
    case kTfLiteBuiltinDepthwiseConv2d: return "DEPTHWISE_CONV_2D";
    case kTfLiteBuiltinFullyConnected: return "FULLY_CONNECTED";
    case kTfLiteBuiltinLogistic: return "LOGISTIC";
    case kTfLiteBuiltinMaxPool2d: return "MAX_POOL_2D";
    case kTfLiteBuiltinMul: return "MUL";
    case kTfLiteBuiltinRelu: return "RELU";
    case kTfLiteBuiltinReluN1To1: return "RELU_N1_TO_1";
    case kTfLiteBuiltinRelu6: return "RELU6";
    case kTfLiteBuiltinReshape: return "RESHAPE";
    case kTfLiteBuiltinSoftmax: return "SOFTMAX";
    case kTfLiteBuiltinTanh: return "TANH";
    case kTfLiteBuiltinCustom: return "CUSTOM";
    case kTfLiteBuiltinPad: return "PAD";
    case kTfLiteBuiltinTranspose: return "TRANSPOSE";
    case kTfLiteBuiltinMean: return "MEAN";
    case kTfLiteBuiltinSub: return "SUB";
    case kTfLiteBuiltinDiv: return "DIV";
    case kTfLiteBuiltinSqueeze: return "SQUEEZE";
    case kTfLiteBuiltinMaximum: return "MAXIMUM";
    case kTfLiteBuiltinMinimum: return "MINIMUM";
    case kTfLiteBuiltinPadv2: return "PADV2";
    case kTfLiteBuiltinSlice: return "SLICE";
    case kTfLiteBuiltinExpandDims: return "EXPAND_DIMS";
    case kTfLiteBuiltinSum: return "SUM";
    case kTfLiteBuiltinReduceMax: return "REDUCE_MAX";
    case kTfLiteBuiltinReduceMin: return "REDUCE_MIN";
    case kTfLiteBuiltinResizeNearestNeighbor: return "RESIZE_NEAREST_NEIGHBOR";
    case kTfLiteBuiltinResizeBilinear: return "RESIZE_BILINEAR";
    case kTfLiteBuiltinLeakyRelu: return "LEAKY_RELU";
    case kTfLiteBuiltinHardSwish: return "HARD_SWISH";
    case kTfLiteBuiltinBroadcastTo: return "BROADCAST_TO";
    case kTfLiteBuiltinStridedSlice: return "STRIDED_SLICE";
    case kTfLiteBuiltinTransposeConv: return "TRANSPOSE_CONV";
    case kTfLiteBuiltinRsqrt: return "RSQRT";
    case kTfLiteBuiltinSquaredDifference: return "SQUARED_DIFFERENCE";
    case kTfLiteBuiltinGelu: return "GELU";
    case kTfLiteBuiltinMirrorPad: return "MIRROR_PAD";
    case kTfLiteBuiltinExp: return "EXP";
    case kTfLiteBuiltinLog: return "LOG";
    case kTfLiteBuiltinGreater: return "GREATER";
    case kTfLiteBuiltinGreaterEqual: return "GREATER_EQUAL";
    case kTfLiteBuiltinLess: return "LESS";
    case kTfLiteBuiltinLessEqual: return "LESS_EQUAL";
    case kTfLiteBuiltinEqual: return "EQUAL";
    case kTfLiteBuiltinNotEqual: return "NOT_EQUAL";
    case kTfLiteBuiltinSelect: return "SELECT";
    case kTfLiteBuiltinSelectV2: return "SELECT_V2";
    case kTfLiteBuiltinStablehloReduceWindow: return "STABLEHLO_REDUCE_WINDOW";
    case kTfLiteBuiltinL2Normalization: return "L2_NORMALIZATION";
    case kTfLiteBuiltinBatchMatmul: return "BATCH_MATMUL";
    case kTfLiteBuiltinAbs: return "ABS";
    case kTfLiteBuiltinSquare: return "SQUARE";
    case kTfLiteBuiltinSqrt: return "SQRT";
    case kTfLiteBuiltinNeg: return "NEG";
    case kTfLiteBuiltinFloor: return "FLOOR";
    case kTfLiteBuiltinCeil: return "CEIL";
    case kTfLiteBuiltinRound: return "ROUND";
    case kTfLiteBuiltinSign: return "SIGN";
    case kTfLiteBuiltinSin: return "SIN";
    case kTfLiteBuiltinCos: return "COS";
    case kTfLiteBuiltinRelu0To1: return "RELU_0_TO_1";
    case kTfLiteBuiltinPow: return "POW";
    case kTfLiteBuiltinReverseV2: return "REVERSE_V2";
    case kTfLiteBuiltinGatherNd: return "GATHER_ND";
    case kTfLiteBuiltinArgMax: return "ARG_MAX";
    case kTfLiteBuiltinArgMin: return "ARG_MIN";
    case kTfLiteBuiltinCast: return "CAST";
    case kTfLiteBuiltinConv3d: return "CONV_3D";
    case kTfLiteBuiltinCumsum: return "CUMSUM";
    case kTfLiteBuiltinLogicalOr: return "LOGICAL_OR";
    case kTfLiteBuiltinLogicalAnd: return "LOGICAL_AND";
    case kTfLiteBuiltinFloorDiv: return "FLOOR_DIV";
    case kTfLiteBuiltinFloorMod: return "FLOOR_MOD";
    case kTfLiteBuiltinAtan2: return "ATAN2";
    // Names for common neighbours the delegate does not run, so logs read naturally.
    case 5: return "DEPTH_TO_SPACE";
    case 6: return "DEQUANTIZE";
    case 26: return "SPACE_TO_DEPTH";
    case 36: return "GATHER";
    case 49: return "SPLIT";
    case 50: return "LOG_SOFTMAX";
    case 54: return "PRELU";
    case 69: return "TILE";
    case 83: return "PACK";
    case 88: return "UNPACK";
    case 102: return "SPLIT_V";
    case 111: return "ELU";
    case 114: return "QUANTIZE";
    default: return "builtin #" + std::to_string(builtin_code);
  }
}

bool CheckContextAbi(const TfLiteContext* context, std::string* why) {
  if (context == nullptr) {
    *why = "null TfLiteContext";
    return false;
  }
  if (context->GetExecutionPlan == nullptr || context->GetNodeAndRegistration == nullptr ||
      context->ReplaceNodeSubsetsWithDelegateKernels == nullptr ||
      context->ReportError == nullptr) {
    *why = "TfLiteContext is missing GetExecutionPlan, GetNodeAndRegistration, "
           "ReplaceNodeSubsetsWithDelegateKernels or ReportError";
    return false;
  }
  if (context->tensors_size > kMaxTensors ||
      (context->tensors_size > 0 && context->tensors == nullptr)) {
    *why = "TfLiteContext reports " + std::to_string(context->tensors_size) +
           " tensors at " + (context->tensors ? "a valid" : "a null") + " address";
    return false;
  }
  // -1 (2.14, unset) or 0 mean "no recommendation"; anything else must be a
  // plausible thread count.
  if (context->recommended_num_threads < -1 || context->recommended_num_threads > 4096) {
    *why = "TfLiteContext.recommended_num_threads is " +
           std::to_string(context->recommended_num_threads);
    return false;
  }
  return true;
}

bool CheckNodeAbi(const TfLiteContext* context, int node_index, const TfLiteNode* node,
                  const TfLiteRegistration* registration, std::string* why) {
  if (node == nullptr || registration == nullptr) {
    *why = "node " + std::to_string(node_index) + " has no node or registration";
    return false;
  }
  if (registration->builtin_code < 0 || registration->builtin_code > kMaxBuiltinCode) {
    *why = "node " + std::to_string(node_index) + " has builtin code " +
           std::to_string(registration->builtin_code);
    return false;
  }
  return CheckIndexList(context, node->inputs, "input", node_index, why) &&
         CheckIndexList(context, node->outputs, "output", node_index, why);
}

bool CheckTensorAbi(const TfLiteContext* context, int tensor_index, std::string* why) {
  if (tensor_index < 0 || static_cast<size_t>(tensor_index) >= context->tensors_size) {
    *why = "tensor index " + std::to_string(tensor_index) + " out of range";
    return false;
  }
  const TfLiteTensor& tensor = context->tensors[tensor_index];
  const std::string label = "tensor " + std::to_string(tensor_index);
  if (tensor.type < kTfLiteNoType || tensor.type > kTfLiteBFloat16 + 8) {
    *why = label + " has type code " + std::to_string(tensor.type);
    return false;
  }
  if (tensor.allocation_type < kTfLiteMemNone || tensor.allocation_type > kTfLiteVariantObject) {
    *why = label + " has allocation type " + std::to_string(tensor.allocation_type);
    return false;
  }
  if (tensor.dims == nullptr) {
    *why = label + " has no dims";
    return false;
  }
  if (tensor.dims->size < 0 || tensor.dims->size > kMaxRank) {
    *why = label + " has rank " + std::to_string(tensor.dims->size);
    return false;
  }
  size_t elements = 1;
  for (int d = 0; d < tensor.dims->size; ++d) {
    const int extent = tensor.dims->data[d];
    if (extent < 0) {
      *why = label + " has dimension " + std::to_string(d) + " = " + std::to_string(extent);
      return false;
    }
    elements *= static_cast<size_t>(extent);
  }
  const size_t element_size = TfLiteTypeSize(tensor.type);
  // Dynamic tensors get their bytes at Eval; everything else has them now.
  if (element_size != 0 && tensor.allocation_type != kTfLiteDynamic &&
      tensor.bytes != elements * element_size) {
    *why = label + " holds " + std::to_string(tensor.bytes) + " bytes but its dims and type " +
           "make " + std::to_string(elements * element_size);
    return false;
  }
  return true;
}

}  // namespace actsparse
