// Our own declarations of the TensorFlow Lite C ABI, limited to what the
// actsparse delegate touches.
//
// No package on the project's machines ships the TFLite C headers, so the
// delegate declares the ABI itself and links against no TFLite library. The
// layouts below follow the "semi-ABI stable" rule of TFLite's common.h (fields
// are only ever appended) and were checked to work unchanged with
// ai-edge-litert 2.3.0, tflite-runtime 2.14.0 and tf.lite 2.21 (LP64).
//
// Every struct that the runtime hands us by pointer *into an array*
// (TfLiteTensor via context->tensors[i]) or that we hand to the runtime *by
// value* (TfLiteRegistration) must have its exact size, hence the static
// asserts at the end. Structs we only read a prefix of (TfLiteConvParams,
// whose size grew from 24 to 28 bytes after 2.14) are declared with that
// prefix only, and must never be copied or indexed as arrays.
//
// Fields the runtime fills with enum codes (tensor type, allocation type,
// padding, activation) are declared as int32_t, not as the enum: the ABI
// checks must be able to look at a value outside the enum's range without
// undefined behaviour. Compare them with the named constants below.
#ifndef ACTSPARSE_DELEGATE_ABI_TFLITE_ABI_H_
#define ACTSPARSE_DELEGATE_ABI_TFLITE_ABI_H_

#include <cstddef>
#include <cstdint>

extern "C" {

typedef enum TfLiteStatus {
  kTfLiteOk = 0,
  kTfLiteError = 1,
  kTfLiteDelegateError = 2,
} TfLiteStatus;

// C runtime tensor types (not the flatbuffer TensorType: FLOAT32 is 0 there).
typedef enum TfLiteType {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
  kTfLiteFloat16 = 10,
  kTfLiteFloat64 = 11,
  kTfLiteComplex128 = 12,
  kTfLiteUInt64 = 13,
  kTfLiteResource = 14,
  kTfLiteVariant = 15,
  kTfLiteUInt32 = 16,
  kTfLiteUInt16 = 17,
  kTfLiteInt4 = 18,
  kTfLiteBFloat16 = 19,
} TfLiteType;

typedef enum TfLiteAllocationType {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,
  kTfLiteCustom = 6,
  kTfLiteVariantObject = 7,
} TfLiteAllocationType;

typedef enum TfLitePadding {
  kTfLitePaddingUnknown = 0,
  kTfLitePaddingSame = 1,
  kTfLitePaddingValid = 2,
} TfLitePadding;

typedef enum TfLiteFusedActivation {
  kTfLiteActNone = 0,
  kTfLiteActRelu = 1,
  kTfLiteActReluN1To1 = 2,
  kTfLiteActRelu6 = 3,
  kTfLiteActTanh = 4,
  kTfLiteActSignBit = 5,
  kTfLiteActSigmoid = 6,
} TfLiteFusedActivation;

// Builtin operator codes of the .tflite schema (BuiltinOperator) that the
// delegate looks at.
enum TfLiteBuiltinCode : int32_t {
  kTfLiteBuiltinAdd = 0,
  kTfLiteBuiltinAveragePool2d = 1,
  kTfLiteBuiltinConcatenation = 2,
  kTfLiteBuiltinConv2d = 3,
  kTfLiteBuiltinDepthwiseConv2d = 4,
  kTfLiteBuiltinFloor = 8,
  kTfLiteBuiltinFullyConnected = 9,
  kTfLiteBuiltinL2Normalization = 11,
  kTfLiteBuiltinLogistic = 14,
  kTfLiteBuiltinMaxPool2d = 17,
  kTfLiteBuiltinMul = 18,
  kTfLiteBuiltinRelu = 19,
  kTfLiteBuiltinReluN1To1 = 20,
  kTfLiteBuiltinRelu6 = 21,
  kTfLiteBuiltinReshape = 22,
  kTfLiteBuiltinResizeBilinear = 23,
  kTfLiteBuiltinSoftmax = 25,
  kTfLiteBuiltinTanh = 28,
  kTfLiteBuiltinCustom = 32,
  kTfLiteBuiltinPad = 34,
  kTfLiteBuiltinTranspose = 39,
  kTfLiteBuiltinMean = 40,
  kTfLiteBuiltinSub = 41,
  kTfLiteBuiltinDiv = 42,
  kTfLiteBuiltinSqueeze = 43,
  kTfLiteBuiltinStridedSlice = 45,
  kTfLiteBuiltinExp = 47,
  kTfLiteBuiltinCast = 53,
  kTfLiteBuiltinMaximum = 55,
  kTfLiteBuiltinArgMax = 56,
  kTfLiteBuiltinNeg = 59,
  kTfLiteBuiltinMinimum = 57,
  kTfLiteBuiltinLess = 58,
  kTfLiteBuiltinPadv2 = 60,
  kTfLiteBuiltinGreater = 61,
  kTfLiteBuiltinGreaterEqual = 62,
  kTfLiteBuiltinLessEqual = 63,
  kTfLiteBuiltinSelect = 64,
  kTfLiteBuiltinSlice = 65,
  kTfLiteBuiltinSin = 66,
  kTfLiteBuiltinTransposeConv = 67,
  kTfLiteBuiltinExpandDims = 70,
  kTfLiteBuiltinEqual = 71,
  kTfLiteBuiltinNotEqual = 72,
  kTfLiteBuiltinLog = 73,
  kTfLiteBuiltinSum = 74,
  kTfLiteBuiltinReduceMax = 82,
  kTfLiteBuiltinLogicalOr = 84,
  kTfLiteBuiltinLogicalAnd = 86,
  kTfLiteBuiltinReduceMin = 89,
  kTfLiteBuiltinSqrt = 75,
  kTfLiteBuiltinRsqrt = 76,
  kTfLiteBuiltinPow = 78,
  kTfLiteBuiltinArgMin = 79,
  kTfLiteBuiltinFloorDiv = 90,
  kTfLiteBuiltinSquare = 92,
  kTfLiteBuiltinFloorMod = 95,
  kTfLiteBuiltinResizeNearestNeighbor = 97,
  kTfLiteBuiltinLeakyRelu = 98,
  kTfLiteBuiltinSquaredDifference = 99,
  kTfLiteBuiltinMirrorPad = 100,
  kTfLiteBuiltinAbs = 101,
  kTfLiteBuiltinCeil = 104,
  kTfLiteBuiltinReverseV2 = 105,
  kTfLiteBuiltinGatherNd = 107,
  kTfLiteBuiltinCos = 108,
  kTfLiteBuiltinRound = 116,
  kTfLiteBuiltinHardSwish = 117,
  kTfLiteBuiltinSelectV2 = 123,
  kTfLiteBuiltinBatchMatmul = 126,
  kTfLiteBuiltinCumsum = 128,
  kTfLiteBuiltinBroadcastTo = 130,
  kTfLiteBuiltinConv3d = 132,
  kTfLiteBuiltinGelu = 150,
  kTfLiteBuiltinRelu0To1 = 152,
  kTfLiteBuiltinAtan2 = 156,
  kTfLiteBuiltinSign = 158,
  kTfLiteBuiltinStablehloReduceWindow = 198,
};

typedef struct TfLiteIntArray {
  int size;
  int data[];  // flexible array member: `size` ints follow
} TfLiteIntArray;

typedef union TfLitePtrUnion {
  int32_t* i32;
  int64_t* i64;
  float* f;
  char* raw;
  bool* b;
  const char* raw_const;
  uint8_t* uint8;
  int8_t* int8;
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct TfLiteQuantization {
  int type;  // TfLiteQuantizationType
  void* params;
} TfLiteQuantization;

struct TfLiteDelegate;
struct TfLiteContext;

typedef struct TfLiteTensor {
  int32_t type;  // TfLiteType
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  int32_t allocation_type;  // TfLiteAllocationType
  size_t bytes;
  const void* allocation;
  const char* name;
  struct TfLiteDelegate* delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  struct TfLiteDelegate* delegate;
  bool might_have_side_effect;
} TfLiteNode;

typedef struct TfLiteRegistration {
  void* (*init)(struct TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(struct TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(struct TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(struct TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const struct TfLiteContext* context,
                                  const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  // The three trailing fields exist in every runtime we support and must be
  // zero in a registration we pass by value, or the runtime dereferences
  // garbage.
  void* registration_external;
  void* (*async_kernel)(struct TfLiteContext* context, TfLiteNode* node);
  uint64_t inplace_operator;
} TfLiteRegistration;

typedef struct TfLiteDelegateParams {
  struct TfLiteDelegate* delegate;
  TfLiteIntArray* nodes_to_replace;
  TfLiteIntArray* input_tensors;
  TfLiteIntArray* output_tensors;
} TfLiteDelegateParams;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext* context,
                                   TfLiteIntArray** execution_plan);
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext* context, TfLiteTensor* tensor,
                               TfLiteIntArray* new_size);
  void (*ReportError)(struct TfLiteContext* context, const char* format, ...);
  TfLiteStatus (*AddTensors)(struct TfLiteContext* context, int tensors_to_add,
                             int* first_new_tensor_index);
  TfLiteStatus (*GetNodeAndRegistration)(struct TfLiteContext* context, int node_index,
                                         TfLiteNode** node,
                                         TfLiteRegistration** registration);
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(
      struct TfLiteContext* context, TfLiteRegistration registration,
      const TfLiteIntArray* nodes_to_replace, struct TfLiteDelegate* delegate);
  int recommended_num_threads;
  void* (*GetExternalContext)(struct TfLiteContext* context, int type);
  void (*SetExternalContext)(struct TfLiteContext* context, int type, void* external);
  bool allow_fp32_relax_to_fp16;
  void* profiler;
  void* (*AllocatePersistentBuffer)(struct TfLiteContext* context, size_t bytes);
  TfLiteStatus (*AllocateBufferForEval)(struct TfLiteContext* context, size_t bytes,
                                        void** ptr);
  TfLiteStatus (*RequestScratchBufferInArena)(struct TfLiteContext* context,
                                              size_t bytes, int* buffer_idx);
  void* (*GetScratchBuffer)(struct TfLiteContext* context, int buffer_idx);
  TfLiteStatus (*ResizeTensorExplicit)(struct TfLiteContext* context,
                                       TfLiteTensor* tensor, int dims,
                                       const int* shape);
  TfLiteStatus (*PreviewDelegatePartitioning)(struct TfLiteContext* context,
                                              const TfLiteIntArray* nodes_to_replace,
                                              TfLiteDelegateParams** partition_params,
                                              int* num_partitions);
  // NULL in the interpreters we support; declared for the layout only.
  TfLiteTensor* (*GetTensor)(const struct TfLiteContext* context, int tensor_index);
  void* (*GetEvalTensor)(const struct TfLiteContext* context, int tensor_index);
  TfLiteStatus (*GetModelMetadata)(const struct TfLiteContext* context,
                                   const char* name, const char** ptr,
                                   size_t* bytes);
  TfLiteStatus (*AcquireSubgraphContext)(struct TfLiteContext* context,
                                         int subgraph_index,
                                         struct TfLiteContext** acquired_context);
  TfLiteStatus (*ReleaseSubgraphContext)(struct TfLiteContext* context,
                                         int subgraph_index);
} TfLiteContext;

typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext* context, struct TfLiteDelegate* delegate);
  TfLiteStatus (*CopyFromBufferHandle)(TfLiteContext* context,
                                       struct TfLiteDelegate* delegate,
                                       int buffer_handle, TfLiteTensor* tensor);
  TfLiteStatus (*CopyToBufferHandle)(TfLiteContext* context,
                                     struct TfLiteDelegate* delegate,
                                     int buffer_handle, TfLiteTensor* tensor);
  void (*FreeBufferHandle)(TfLiteContext* context, struct TfLiteDelegate* delegate,
                           int* handle);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

// Only the first six ints are read: the struct is 24 bytes in TFLite 2.14 and
// 28 bytes later (a trailing quantized_bias_type). Never copy it.
typedef struct TfLiteConvParamsPrefix {
  int32_t padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int32_t activation;  // TfLiteFusedActivation
  int dilation_width_factor;
  int dilation_height_factor;
} TfLiteConvParamsPrefix;

typedef struct TfLiteCumsumParams {
  bool exclusive;
  bool reverse;
} TfLiteCumsumParams;

typedef struct TfLiteConv3DParams {
  int32_t padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int stride_depth;
  int dilation_width_factor;
  int dilation_height_factor;
  int dilation_depth_factor;
  int32_t activation;  // TfLiteFusedActivation
} TfLiteConv3DParams;

typedef struct TfLiteStridedSliceParams {
  int begin_mask;
  int end_mask;
  int ellipsis_mask;
  int new_axis_mask;
  int shrink_axis_mask;
  bool offset;  // end is begin + end
} TfLiteStridedSliceParams;

// The fields every version has (later ones append a quantized bias type).
typedef struct TfLiteTransposeConvParamsPrefix {
  int32_t padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int32_t activation;  // TfLiteFusedActivation (version 4 and later; 0 = none before)
} TfLiteTransposeConvParamsPrefix;

typedef struct TfLiteDepthwiseConvParams {
  int32_t padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int depth_multiplier;
  int32_t activation;  // TfLiteFusedActivation
  int dilation_width_factor;
  int dilation_height_factor;
} TfLiteDepthwiseConvParams;

// ADD's params continue with a bool in newer runtimes; MUL's is one int. We
// read only the activation.
typedef struct TfLiteActivationParamsPrefix {
  int32_t activation;  // TfLiteFusedActivation
} TfLiteActivationParamsPrefix;

// MAX_POOL_2D / AVERAGE_POOL_2D. The trailing `computed` padding the runtime
// fills in its own Prepare is not read.
typedef struct TfLitePoolParamsPrefix {
  int32_t padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int filter_width;
  int filter_height;
  int32_t activation;  // TfLiteFusedActivation
} TfLitePoolParamsPrefix;

typedef struct TfLiteConcatenationParams {
  int axis;
  int32_t activation;  // TfLiteFusedActivation
} TfLiteConcatenationParams;

// FULLY_CONNECTED: activation, weights_format, keep_num_dims, ... (more
// fields were appended over versions; only these are read).
typedef struct TfLiteFullyConnectedParamsPrefix {
  int32_t activation;      // TfLiteFusedActivation
  int32_t weights_format;  // 0 = default (dense [O, I])
  bool keep_num_dims;
} TfLiteFullyConnectedParamsPrefix;

typedef struct TfLiteSoftmaxParams {
  float beta;
} TfLiteSoftmaxParams;

typedef struct TfLiteReducerParams {
  bool keep_dims;
} TfLiteReducerParams;

typedef enum TfLiteMirrorPaddingMode {
  kTfLiteMirrorPaddingUnknown = 0,
  kTfLiteMirrorPaddingReflect = 1,
  kTfLiteMirrorPaddingSymmetric = 2,
} TfLiteMirrorPaddingMode;

typedef struct TfLiteMirrorPaddingParams {
  TfLiteMirrorPaddingMode mode;
} TfLiteMirrorPaddingParams;

typedef struct TfLiteResizeNearestNeighborParams {
  bool align_corners;
  bool half_pixel_centers;
} TfLiteResizeNearestNeighborParams;

typedef struct TfLiteResizeBilinearParams {
  bool align_corners;
  bool half_pixel_centers;
} TfLiteResizeBilinearParams;

typedef struct TfLiteLeakyReluParams {
  float alpha;
} TfLiteLeakyReluParams;

typedef struct TfLiteGeluParams {
  bool approximate;
} TfLiteGeluParams;

// STABLEHLO_REDUCE_WINDOW: per dim of the operand (up to 8), the window,
// its strides and dilations, the operand's dilations and (low, high)
// padding; the reduction is the body subgraph's one op.
#define ACTSPARSE_REDUCE_WINDOW_MAX_DIMS 8
typedef struct TfLiteStablehloReduceWindowParams {
  int64_t window_dimensions[ACTSPARSE_REDUCE_WINDOW_MAX_DIMS];
  int64_t window_strides[ACTSPARSE_REDUCE_WINDOW_MAX_DIMS];
  int64_t base_dilations[ACTSPARSE_REDUCE_WINDOW_MAX_DIMS];
  int64_t window_dilations[ACTSPARSE_REDUCE_WINDOW_MAX_DIMS];
  int64_t padding[2 * ACTSPARSE_REDUCE_WINDOW_MAX_DIMS];  // low, high for each dim
  int body_subgraph_index;
} TfLiteStablehloReduceWindowParams;

typedef struct TfLiteBatchMatMulParams {
  bool adj_x;  // the left operand is given as [..., K, M]
  bool adj_y;  // the right operand is given as [..., N, K]
  bool asymmetric_quantize_inputs;  // quantized models only
} TfLiteBatchMatMulParams;

}  // extern "C"

// The project targets LP64 platforms (x86-64 and aarch64, Linux and Android).
static_assert(sizeof(void*) == 8, "actsparse declares the TFLite ABI for LP64 only");
static_assert(sizeof(int) == 4 && sizeof(size_t) == 8, "LP64 expected");
static_assert(sizeof(TfLiteStatus) == 4 && sizeof(TfLiteType) == 4, "enums are ints");

static_assert(sizeof(TfLiteIntArray) == 4, "TfLiteIntArray header");
static_assert(sizeof(TfLiteConv3DParams) == 32, "TfLiteConv3DParams: eight ints");
static_assert(sizeof(TfLiteQuantizationParams) == 8, "TfLiteQuantizationParams");
static_assert(sizeof(TfLiteQuantization) == 16, "TfLiteQuantization");

static_assert(sizeof(TfLiteTensor) == 112, "TfLiteTensor: context->tensors is indexed");
static_assert(offsetof(TfLiteTensor, data) == 8, "TfLiteTensor.data");
static_assert(offsetof(TfLiteTensor, dims) == 16, "TfLiteTensor.dims");
static_assert(offsetof(TfLiteTensor, allocation_type) == 32, "TfLiteTensor.allocation_type");
static_assert(offsetof(TfLiteTensor, bytes) == 40, "TfLiteTensor.bytes");
static_assert(offsetof(TfLiteTensor, name) == 56, "TfLiteTensor.name");
static_assert(offsetof(TfLiteTensor, buffer_handle) == 72, "TfLiteTensor.buffer_handle");
static_assert(offsetof(TfLiteTensor, quantization) == 80, "TfLiteTensor.quantization");
static_assert(offsetof(TfLiteTensor, dims_signature) == 104, "TfLiteTensor.dims_signature");

static_assert(sizeof(TfLiteNode) == 80, "TfLiteNode");
static_assert(offsetof(TfLiteNode, builtin_data) == 40, "TfLiteNode.builtin_data");
static_assert(offsetof(TfLiteNode, delegate) == 64, "TfLiteNode.delegate");

static_assert(sizeof(TfLiteRegistration) == 88, "TfLiteRegistration is passed by value");
static_assert(offsetof(TfLiteRegistration, builtin_code) == 40, "TfLiteRegistration.builtin_code");
static_assert(offsetof(TfLiteRegistration, custom_name) == 48, "TfLiteRegistration.custom_name");
static_assert(offsetof(TfLiteRegistration, version) == 56, "TfLiteRegistration.version");
static_assert(offsetof(TfLiteRegistration, inplace_operator) == 80,
              "TfLiteRegistration.inplace_operator");

static_assert(sizeof(TfLiteDelegateParams) == 32, "TfLiteDelegateParams");

static_assert(sizeof(TfLiteContext) == 200, "TfLiteContext");
static_assert(offsetof(TfLiteContext, tensors) == 16, "TfLiteContext.tensors");
static_assert(offsetof(TfLiteContext, GetNodeAndRegistration) == 56,
              "TfLiteContext.GetNodeAndRegistration");
static_assert(offsetof(TfLiteContext, ReplaceNodeSubsetsWithDelegateKernels) == 64,
              "TfLiteContext.ReplaceNodeSubsetsWithDelegateKernels");
static_assert(offsetof(TfLiteContext, recommended_num_threads) == 72,
              "TfLiteContext.recommended_num_threads");
static_assert(offsetof(TfLiteContext, GetModelMetadata) == 176,
              "TfLiteContext.GetModelMetadata");
static_assert(offsetof(TfLiteContext, AcquireSubgraphContext) == 184,
              "TfLiteContext.AcquireSubgraphContext");
static_assert(offsetof(TfLiteContext, ReleaseSubgraphContext) == 192,
              "TfLiteContext.ReleaseSubgraphContext");

static_assert(sizeof(TfLiteDelegate) == 56, "TfLiteDelegate");
static_assert(offsetof(TfLiteDelegate, flags) == 40, "TfLiteDelegate.flags");

static_assert(sizeof(TfLiteConvParamsPrefix) == 24, "first six ints of TfLiteConvParams");
static_assert(sizeof(TfLiteDepthwiseConvParams) == 28, "TfLiteDepthwiseConvParams");
static_assert(sizeof(TfLitePoolParamsPrefix) == 24, "first six ints of TfLitePoolParams");
static_assert(sizeof(TfLiteConcatenationParams) == 8, "TfLiteConcatenationParams");
static_assert(offsetof(TfLiteFullyConnectedParamsPrefix, keep_num_dims) == 8,
              "TfLiteFullyConnectedParams.keep_num_dims");
static_assert(sizeof(TfLiteSoftmaxParams) == 4 && sizeof(TfLiteLeakyReluParams) == 4, "one float");
static_assert(sizeof(TfLiteReducerParams) == 1, "TfLiteReducerParams");
static_assert(sizeof(TfLiteGeluParams) == 1, "TfLiteGeluParams");
static_assert(offsetof(TfLiteStablehloReduceWindowParams, padding) == 256 &&
                  offsetof(TfLiteStablehloReduceWindowParams, body_subgraph_index) == 384 &&
                  sizeof(TfLiteStablehloReduceWindowParams) == 392,
              "TfLiteStablehloReduceWindowParams");
static_assert(sizeof(TfLiteBatchMatMulParams) == 3 && offsetof(TfLiteBatchMatMulParams, adj_y) == 1,
              "TfLiteBatchMatMulParams");
static_assert(sizeof(TfLiteStridedSliceParams) == 24, "TfLiteStridedSliceParams");
static_assert(sizeof(TfLiteTransposeConvParamsPrefix) == 16, "TfLiteTransposeConvParamsPrefix");
static_assert(sizeof(TfLiteResizeNearestNeighborParams) == 2, "TfLiteResizeNearestNeighborParams");
static_assert(sizeof(TfLiteMirrorPaddingParams) == 4, "TfLiteMirrorPaddingParams");
static_assert(sizeof(TfLiteResizeBilinearParams) == 2, "TfLiteResizeBilinearParams");

#endif  // ACTSPARSE_DELEGATE_ABI_TFLITE_ABI_H_
