// The graph layer's intermediate representation of one delegate partition:
// tensors of 4-byte elements (shapes, types, model constants, which ones the caller binds) and
// nodes in execution order, with their parameters already read out of the
// model (integer constants such as paddings, axes and permutations are
// parameters here, not tensors). The glue builds a Graph from the runtime's
// nodes; the planner (plan.h) fuses and schedules it. Knows nothing of the
// TFLite ABI.
#ifndef ACTSPARSE_DELEGATE_GRAPH_GRAPH_H_
#define ACTSPARSE_DELEGATE_GRAPH_GRAPH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/operator/layout.h"
#include "delegate/operator/pooling.h"
#include "delegate/operator/shape.h"

namespace actsparse {
namespace graph {

constexpr float kNoMin = -3.402823466e+38f;
constexpr float kNoMax = 3.402823466e+38f;

// What a tensor's 4-byte elements hold. Every buffer is handed around as
// float*: bools are floats 1.0 / 0.0 (a comparison's output, a SELECT's
// condition), so float ops read them; int32 values are their own bits (an
// ARG_MAX's indices, grid_sample's pixel indices), read only by the int
// ops (kIntBinary, kCast, kGatherNd's indices) and moved by the copies
// (reshape, transpose, slice, concatenation, select, gather...).
enum class DataType { kFloat32, kBool, kInt32 };

const char* DataTypeName(DataType type);

struct Tensor {
  Shape shape;
  DataType type = DataType::kFloat32;
  const float* constant = nullptr;  // model constant (owned by the model), or null
  bool external = false;            // bound by the caller at every run (partition input or output)
  std::string name;                 // for messages
};

enum class OpType {
  kConv2D,           // also grouped; a masked chain is a Conv2D with a mask
  kConv3D,           // NDHWC; conv: the depth fields too, weights [KD, KH, KW, I, O], bias
  kTransposeConv,    // conv: kernel, stride, padding, weights [O, KH, KW, I], bias
  kDepthwiseConv2D,
  kFullyConnected,
  kBinary,           // ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, comparisons (1.0 / 0.0) with broadcasting
  kUnary,            // RELU*, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH, EXP, LOG, ..., (fused) SiLU
  kSelect,           // inputs: condition (1.0 / 0.0), then, else; each broadcast to the output's shape
  kMaxPool2D,
  kAveragePool2D,
  kSumPool2D,        // a window's sum (a StableHLO reduce-window ADD); padding as in the pools
  kMean,             // also SUM and REDUCE_MAX (`reduction`)
  kPad,
  kReshape,          // also SQUEEZE / EXPAND_DIMS: same floats, another shape
  kTranspose,
  kSlice,            // a box of the input: `begin` per dim, the output's shape
  kBroadcastTo,      // the input repeated to the output's shape
  kStridedSlice,     // `begin` and `strides` (non-zero) per dim, the output's shape; also REVERSE_V2
  kConcatenation,
  kResizeNearest,
  kResizeBilinear,
  kSoftmax,
  kBatchMatMul,      // inputs: lhs, rhs; `adj_x` / `adj_y`, batch dims broadcast
  kL2Normalization,  // over the innermost dim
  kCumsum,           // CUMSUM over `axis` (cumsum_exclusive, cumsum_reverse)
  kArgReduce,        // ARG_MAX / ARG_MIN (`reduction` kMax / kMin) over `axis`: the index, int32
  kGather,           // GATHER_ND with indices known at plan time: output slice i is the input's from gather_offsets[i]
  kGatherNd,         // GATHER_ND, inputs: params, int32 indices read at run time (out of range: the run fails);
                     // after fusion the indices may be several tensors' columns (`gather_columns`)
  kIntBinary,        // `binary_op` an int32 op (kernels::IsIntBinaryOp): ADD, SUB, MUL, MAXIMUM, MINIMUM, comparisons
  kCast,             // float32 or bool to int32 (`cast_to` kInt32, toward zero), or int32 to float32
  // Fusion's product: elementwise ops applied in turn to one tensor
  // (`stages`), each binary one with a model constant of one value per
  // innermost index or a scalar (a batch norm the converter could not fold:
  // SUB, MUL, MUL, ADD), chunk by chunk while it is in L1.
  kElementwiseChain,
  // Fusion's product: BATCH_MATMUL -> SOFTMAX -> BATCH_MATMUL; inputs:
  // queries, keys, values. scores = queries x keys (`adj_x`, `adj_y`),
  // weights = softmax(scores, `beta`), out = weights x values
  // (`attention_adj_v`), or out^T when `attention_transposed` (the graph's
  // values x weights^T); run a block of query rows at a time.
  kAttention,
  // Fusion's product: `chain` holds consecutive elementwise nodes (kBinary,
  // kIntBinary, kUnary, kSelect, kCast, kReshape) over tensors of one
  // element count (or single values), run chunk by chunk; `inputs` are the
  // tensors they read from outside, `group_outputs` the results read after
  // them (or by the caller), written out; `output` is the last of those.
  kElementwiseGroup,
  // Fusion's product: `chain` (a 1x1 conv, a depthwise conv, a 1x1 conv, as
  // in MobileNet's inverted residual) computed in bands of output rows, the
  // two tensors between them held in small rings of rows.
  kBandedConvs,
};

const char* OpTypeName(OpType type);

// Inputs by op (tensor ids): conv / depthwise / FC: [input] (+ [residual]
// once a residual ADD is fused) (+ [conv.input_scale] once a scale is); binary, batch matmul: [a, b]; concatenation: the inputs in
// order; every other op: [input]. Outputs: one tensor.
struct Node {
  OpType type = OpType::kUnary;
  std::vector<int> inputs;
  int output = -1;
  std::string label;  // "CONV_2D#12" (op and runtime node index) or a masked chain's layer name

  // Fused activation as a clamp (every op that has one).
  float act_min = kNoMin, act_max = kNoMax;

  // kConv2D / kDepthwiseConv2D / kFullyConnected.
  struct Conv {
    int kernel_height = 1, kernel_width = 1;
    int stride_height = 1, stride_width = 1;
    int dilation_height = 1, dilation_width = 1;
    int padding_top = 0, padding_left = 0;  // bottom/right follow from the output size
    int kernel_depth = 1, stride_depth = 1, dilation_depth = 1, padding_front = 0;  // kConv3D only
    int groups = 1;                          // kConv2D only
    int input_size = 0;                      // kFullyConnected: K (the input is read as [-1, K])
    int depth_multiplier = 1;                // kDepthwiseConv2D only
    const float* weights = nullptr;          // OHWI / [1,KH,KW,C*M] / FC [O, I]
    const float* bias = nullptr;             // output channels, or null
    // A masked chain (CONV_2D -> MUL(mask) -> ADD(bias)): the mask over the
    // output pixels (row-major, 1 = compute) and the ADD's bias.
    std::vector<uint8_t> mask;
    const float* mask_add_bias = nullptr;
    // kConv2D (1x1, one group): a tensor of input-channel factors, the
    // input read as input * scale (a squeeze-excitation's MUL folded in;
    // fusion); also the last of `inputs`. -1: none.
    int input_scale = -1;
    // kTransposeConv made by fusion from one 1-channel transposed conv per
    // channel (a ConvTranspose2d with groups = channels): each channel's
    // weights ([1, KH, KW, 1], model constants) and bias (1 float or null);
    // `weights` and `bias` are then unused.
    std::vector<const float*> channel_weights, channel_biases;
  } conv;

  // What the node's output goes through before it is stored (fusion).
  struct Stage {
    bool residual = false;  // inputs.back() is added, then clamped to [lo, hi]
    float residual_min = kNoMin, residual_max = kNoMax;
    bool unary = false;
    kernels::UnaryOp unary_op = kernels::UnaryOp::kClamp;
    kernels::UnaryParams unary_params;
  } stage;

  kernels::BinaryOp binary_op = kernels::BinaryOp::kAdd;
  kernels::UnaryOp unary_op = kernels::UnaryOp::kClamp;
  float alpha = 0.0f;  // LEAKY_RELU
  DataType cast_to = DataType::kFloat32;  // kCast

  // kMaxPool2D / kAveragePool2D / kSumPool2D (padding as in conv).
  struct Pool {
    int filter_height = 1, filter_width = 1, stride_height = 1, stride_width = 1;
    int padding_top = 0, padding_left = 0;
    // The pooled dims ("H" and "W"; width_axis -1: one dim alone, W = 1):
    // the dims before them act as the batch, those after as the channels
    // (a StableHLO reduce-window over the channels of an NCHW tensor: a
    // local response norm's window sum). 1 and 2: NHWC.
    int height_axis = 1, width_axis = 2;
  } pool;

  std::vector<int> axes;                         // kMean (sorted), kTranspose (the permutation)
  std::vector<std::pair<int, int>> paddings;     // kPad: (before, after) per dim
  std::vector<int> begin;                        // kSlice, kStridedSlice: first input index per dim
  std::vector<int> strides;                      // kStridedSlice
  Reduction reduction = Reduction::kMean;        // kMean: MEAN, SUM or REDUCE_MAX
  float pad_value = 0.0f;                        // kPad (PadMode::kConstant)
  PadMode pad_mode = PadMode::kConstant;         // kPad
  int axis = 0;                                  // kConcatenation, kArgReduce, kCumsum
  bool cumsum_exclusive = false, cumsum_reverse = false;
  // kConcatenation with a SLICE fused in: per input, the (first, count) it
  // contributes along `axis` (empty: every input whole).
  std::vector<std::pair<int, int>> concat_ranges;
  bool align_corners = false, half_pixel_centers = false;  // kResizeNearest / kResizeBilinear
  float beta = 1.0f;                             // kSoftmax
  bool adj_x = false, adj_y = false;             // kBatchMatMul: an operand given with its last two dims swapped
  bool attention_adj_v = false, attention_transposed = false;  // kAttention
  std::vector<Node> chain;                       // kBandedConvs: its convs; kElementwiseGroup: its ops; in order
  std::vector<int> group_outputs;                // kElementwiseGroup: every tensor it writes
  std::vector<size_t> gather_offsets;            // kGather: each output slice's first input float
  // kGatherNd with a CONCATENATION of its index columns fused in: per index
  // tensor (inputs 1...), how many of a tuple's indices it holds (empty: one tensor, all).
  std::vector<int> gather_columns;

  // kElementwiseChain: what each fused op does to the running value x.
  struct ChainStage {
    bool unary = false;
    kernels::UnaryOp unary_op = kernels::UnaryOp::kClamp;
    float alpha = 0.0f;                            // LEAKY_RELU
    kernels::BinaryOp binary_op = kernels::BinaryOp::kAdd;
    const float* constant = nullptr;               // binary: a model constant, 1 or C floats
    size_t constant_size = 0;
    bool constant_first = false;                   // constant op x (SUB, DIV...), else x op constant
    float lo = kNoMin, hi = kNoMax;                // the op's clamp (its fused activation)
  };
  std::vector<ChainStage> stages;
};

struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;  // in an order that respects data dependencies

  int AddTensor(Tensor tensor) {
    tensors.push_back(std::move(tensor));
    return static_cast<int>(tensors.size()) - 1;
  }
};

// Checks shapes and parameters of every node; on failure names the node.
bool Validate(const Graph& graph, std::string* error);

}  // namespace graph
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_GRAPH_GRAPH_H_
