#include "delegate/tflite/chain.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>

#include "delegate/tflite/abi_check.h"

namespace actsparse {
namespace {

const TfLiteTensor& T(const TfLiteContext* context, int index) { return context->tensors[index]; }

std::vector<int> Dims(const TfLiteTensor& t) {
  return std::vector<int>(t.dims->data, t.dims->data + t.dims->size);
}

std::string DimsText(const std::vector<int>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? "," : "") + std::to_string(dims[i]);
  return text + "]";
}

bool IsConstFloat(const TfLiteTensor& t) {
  return t.type == kTfLiteFloat32 && t.allocation_type == kTfLiteMmapRo && t.data.raw != nullptr;
}

size_t Elements(const TfLiteTensor& t) {
  size_t n = 1;
  for (int i = 0; i < t.dims->size; ++i) n *= static_cast<size_t>(t.dims->data[i]);
  return n;
}

// The other input of a binary op, given one of them; -1 if `known` is not an input.
int OtherInput(const TfLiteNode* node, int known) {
  if (node->inputs->size != 2) return -1;
  if (node->inputs->data[0] == known) return node->inputs->data[1];
  if (node->inputs->data[1] == known) return node->inputs->data[0];
  return -1;
}

bool ActivationRange(int activation, float* lo, float* hi) {
  const float inf = std::numeric_limits<float>::infinity();
  switch (activation) {
    case kTfLiteActNone: *lo = -inf; *hi = inf; return true;
    case kTfLiteActRelu: *lo = 0.0f; *hi = inf; return true;
    case kTfLiteActReluN1To1: *lo = -1.0f; *hi = 1.0f; return true;
    case kTfLiteActRelu6: *lo = 0.0f; *hi = 6.0f; return true;
    default: return false;
  }
}

// TFLite's SAME padding before the first element along one axis.
int SamePaddingBefore(int in, int out, int kernel, int stride, int dilation) {
  const int effective = dilation * (kernel - 1) + 1;
  return std::max((out - 1) * stride + effective - in, 0) / 2;
}

int ConvOutputSize(int in, int kernel, int stride, int dilation, bool same) {
  if (same) return (in + stride - 1) / stride;
  const int effective = dilation * (kernel - 1) + 1;
  return in < effective ? 0 : (in - effective) / stride + 1;
}

}  // namespace

std::map<int, int> CountConsumers(const std::vector<NodeInfo>& plan) {
  std::map<int, int> consumers;
  for (const NodeInfo& info : plan) {
    for (int i = 0; i < info.node->inputs->size; ++i) {
      if (info.node->inputs->data[i] >= 0) consumers[info.node->inputs->data[i]] += 1;
    }
  }
  return consumers;
}

bool ValidateChain(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                   const std::map<int, int>& consumers, const MaskedChain& chain,
                   ChainPlan* out, std::string* why) {
  auto fail = [&](const std::string& message) {
    *why = message;
    return false;
  };
  auto find = [&](int index, const NodeInfo** info) {
    for (const NodeInfo& n : plan) {
      if (n.index == index) {
        *info = &n;
        return true;
      }
    }
    return false;
  };
  auto used_only_by = [&](int tensor, int count) {
    auto it = consumers.find(tensor);
    return it != consumers.end() && it->second == count;
  };
  if (chain.subgraph != 0) return fail("only subgraph 0 is delegated");
  const NodeInfo *conv = nullptr, *mul = nullptr, *add = nullptr, *pad = nullptr;
  if (!find(chain.conv_op, &conv)) return fail("conv_op " + std::to_string(chain.conv_op) + " is not in the execution plan");
  if (!find(chain.mul_op, &mul)) return fail("mul_op " + std::to_string(chain.mul_op) + " is not in the execution plan");
  if (chain.add_op >= 0 && !find(chain.add_op, &add)) return fail("add_op " + std::to_string(chain.add_op) + " is not in the execution plan");
  if (chain.pad_op >= 0 && !find(chain.pad_op, &pad)) return fail("pad_op " + std::to_string(chain.pad_op) + " is not in the execution plan");

  const int conv_code = conv->registration->builtin_code;
  const bool depthwise = conv_code == kTfLiteBuiltinDepthwiseConv2d;
  if (conv_code != kTfLiteBuiltinConv2d && !depthwise) {
    return fail("conv_op " + std::to_string(conv->index) + " is " + BuiltinName(conv_code));
  }
  if (mul->registration->builtin_code != kTfLiteBuiltinMul) {
    return fail("mul_op " + std::to_string(mul->index) + " is " + BuiltinName(mul->registration->builtin_code));
  }
  if (add && add->registration->builtin_code != kTfLiteBuiltinAdd) {
    return fail("add_op " + std::to_string(add->index) + " is " + BuiltinName(add->registration->builtin_code));
  }
  if (conv->node->inputs->size < 2 || conv->node->outputs->size != 1 ||
      mul->node->outputs->size != 1 || (add && add->node->outputs->size != 1)) {
    return fail("unexpected number of inputs or outputs");
  }
  if (conv->node->builtin_data == nullptr) return fail("conv has no parameters");

  // --- the conv ---
  const int conv_in = conv->node->inputs->data[0];
  const int weights_index = conv->node->inputs->data[1];
  const int bias_index = conv->node->inputs->size > 2 ? conv->node->inputs->data[2] : -1;
  const int conv_out = conv->node->outputs->data[0];
  const TfLiteTensor& in_t = T(context, conv_in);
  const TfLiteTensor& w_t = T(context, weights_index);
  const TfLiteTensor& out_t = T(context, conv_out);
  if (in_t.type != kTfLiteFloat32 || out_t.type != kTfLiteFloat32) return fail("conv is not float32");
  if (in_t.dims->size != 4 || out_t.dims->size != 4 || w_t.dims->size != 4) return fail("conv tensors are not 4-D");
  if (!IsConstFloat(w_t)) return fail("conv weights are not a float32 constant");
  const std::vector<int> in_dims = Dims(in_t), out_dims = Dims(out_t), w_dims = Dims(w_t);
  const int batch = out_dims[0], out_h = out_dims[1], out_w = out_dims[2], out_c = out_dims[3];
  if (in_dims[0] != batch) return fail("conv input and output batch differ");
  if (static_cast<uint32_t>(out_h) != chain.height || static_cast<uint32_t>(out_w) != chain.width) {
    return fail("mask is " + std::to_string(chain.height) + "x" + std::to_string(chain.width) +
                " but the conv output is " + DimsText(out_dims));
  }
  int padding, stride_h, stride_w, dilation_h, dilation_w, activation, multiplier = 1, groups = 1;
  if (depthwise) {
    const auto* p = static_cast<const TfLiteDepthwiseConvParams*>(conv->node->builtin_data);
    padding = p->padding; stride_w = p->stride_width; stride_h = p->stride_height;
    dilation_w = p->dilation_width_factor; dilation_h = p->dilation_height_factor;
    activation = p->activation;
    if (w_dims[0] != 1 || w_dims[3] != out_c || out_c % in_dims[3] != 0) {
      return fail("depthwise weights " + DimsText(w_dims) + " do not fit " + DimsText(in_dims) + " -> " + DimsText(out_dims));
    }
    multiplier = out_c / in_dims[3];
  } else {
    const auto* p = static_cast<const TfLiteConvParamsPrefix*>(conv->node->builtin_data);
    padding = p->padding; stride_w = p->stride_width; stride_h = p->stride_height;
    dilation_w = p->dilation_width_factor; dilation_h = p->dilation_height_factor;
    activation = p->activation;
    // A grouped conv (ResNeXt, RegNet) has filters of in_channels / groups
    // inputs; groups follow from the shapes, as in the builtin kernel.
    if (w_dims[0] != out_c || w_dims[3] < 1 || in_dims[3] % w_dims[3] != 0 || out_c % (in_dims[3] / w_dims[3]) != 0) {
      return fail("conv weights " + DimsText(w_dims) + " do not fit " + DimsText(in_dims) + " -> " + DimsText(out_dims));
    }
    groups = in_dims[3] / w_dims[3];
  }
  if (activation != kTfLiteActNone) return fail("the conv has a fused activation");
  if (stride_h < 1 || stride_w < 1 || dilation_h < 1 || dilation_w < 1) return fail("bad stride or dilation");
  if (padding != kTfLitePaddingSame && padding != kTfLitePaddingValid) return fail("unknown padding");
  const bool same = padding == kTfLitePaddingSame;
  const int kh = w_dims[1], kw = w_dims[2];
  if (ConvOutputSize(in_dims[1], kh, stride_h, dilation_h, same) != out_h ||
      ConvOutputSize(in_dims[2], kw, stride_w, dilation_w, same) != out_w) {
    return fail("conv output " + DimsText(out_dims) + " does not follow from input " + DimsText(in_dims));
  }
  const float* conv_bias = nullptr;
  if (bias_index >= 0) {
    const TfLiteTensor& b = T(context, bias_index);
    if (!IsConstFloat(b) || Elements(b) != static_cast<size_t>(out_c)) return fail("conv bias is not a float32 constant of C_out values");
    conv_bias = b.data.f;
  }
  if (!used_only_by(conv_out, 1)) return fail("the conv output has other consumers");

  // --- the MUL by the mask ---
  const int mask_index = OtherInput(mul->node, conv_out);
  if (mask_index < 0) return fail("mul_op does not multiply the conv output");
  if (mask_index != chain.mask_tensor) return fail("the MUL's other input is tensor " + std::to_string(mask_index) +
                                                   ", the metadata says " + std::to_string(chain.mask_tensor));
  const TfLiteTensor& mask_t = T(context, mask_index);
  const std::vector<int> mask_dims = Dims(mask_t);
  if (!IsConstFloat(mask_t) || mask_dims != std::vector<int>({1, out_h, out_w, 1})) {
    return fail("mask tensor is not a float32 constant of shape [1," + std::to_string(out_h) + "," + std::to_string(out_w) + ",1]");
  }
  for (size_t i = 0; i < chain.mask.size(); ++i) {
    const float v = mask_t.data.f[i];
    if (!((v == 1.0f && chain.mask[i]) || (v == 0.0f && !chain.mask[i]))) {
      return fail("the MUL's mask constant differs from the metadata at pixel " + std::to_string(i));
    }
  }
  const int mul_out = mul->node->outputs->data[0];
  if (Dims(T(context, mul_out)) != out_dims) return fail("MUL output shape differs from the conv output");
  const auto* mul_params = static_cast<const TfLiteActivationParamsPrefix*>(mul->node->builtin_data);
  const int mul_activation = mul_params ? mul_params->activation : kTfLiteActNone;

  // --- the ADD of the bias ---
  const float* add_bias = nullptr;
  int chain_activation = mul_activation;
  int chain_out = mul_out;
  if (add) {
    if (mul_activation != kTfLiteActNone) return fail("the MUL has a fused activation and an ADD follows");
    if (!used_only_by(mul_out, 1)) return fail("the MUL output has other consumers");
    const int bias = OtherInput(add->node, mul_out);
    if (bias < 0) return fail("add_op does not add to the MUL output");
    const TfLiteTensor& b = T(context, bias);
    const std::vector<int> b_dims = Dims(b);
    if (!IsConstFloat(b) || !(b_dims == std::vector<int>({out_c}) || b_dims == std::vector<int>({1, 1, 1, out_c}))) {
      return fail("the ADD's bias is not a float32 constant of shape [C] or [1,1,1,C]");
    }
    add_bias = b.data.f;
    chain_out = add->node->outputs->data[0];
    if (Dims(T(context, chain_out)) != out_dims) return fail("ADD output shape differs from the conv output");
    chain_activation = add->node->builtin_data
                           ? static_cast<const TfLiteActivationParamsPrefix*>(add->node->builtin_data)->activation
                           : kTfLiteActNone;
  }
  float lo, hi;
  if (!ActivationRange(chain_activation, &lo, &hi)) {
    return fail("fused activation " + std::to_string(chain_activation) + " is not supported");
  }
  if (T(context, chain_out).type != kTfLiteFloat32) return fail("chain output is not float32");

  // --- an absorbed zero PAD ---
  int pad_top = 0, pad_left = 0;
  int source = conv_in;
  std::vector<int> source_dims = in_dims;
  if (pad) {
    const int code = pad->registration->builtin_code;
    if (code != kTfLiteBuiltinPad && code != kTfLiteBuiltinPadv2) return fail("pad_op is " + BuiltinName(code));
    if (pad->node->outputs->size != 1 || pad->node->outputs->data[0] != conv_in || pad->node->inputs->size < 2) {
      return fail("pad_op does not produce the conv input");
    }
    if (!used_only_by(conv_in, 1)) return fail("the PAD output has other consumers");
    const TfLiteTensor& paddings = T(context, pad->node->inputs->data[1]);
    if (paddings.allocation_type != kTfLiteMmapRo || paddings.data.raw == nullptr ||
        Dims(paddings) != std::vector<int>({4, 2}) ||
        (paddings.type != kTfLiteInt32 && paddings.type != kTfLiteInt64)) {
      return fail("PAD paddings are not a constant int32/int64 [4,2]");
    }
    int64_t amounts[8];
    for (int i = 0; i < 8; ++i) {
      amounts[i] = paddings.type == kTfLiteInt32 ? paddings.data.i32[i] : paddings.data.i64[i];
    }
    if (amounts[0] || amounts[1] || amounts[6] || amounts[7]) return fail("PAD pads batch or channels");
    for (int i = 2; i < 6; ++i) {
      if (amounts[i] < 0 || amounts[i] > 1 << 16) return fail("PAD amounts out of range");
    }
    if (code == kTfLiteBuiltinPadv2) {
      if (pad->node->inputs->size < 3) return fail("PADV2 without a value");
      const TfLiteTensor& value = T(context, pad->node->inputs->data[2]);
      if (!IsConstFloat(value) || Elements(value) != 1 || value.data.f[0] != 0.0f) return fail("PADV2 value is not 0");
    }
    source = pad->node->inputs->data[0];
    source_dims = Dims(T(context, source));
    if (T(context, source).type != kTfLiteFloat32 || source_dims.size() != 4 ||
        source_dims[0] != in_dims[0] || source_dims[3] != in_dims[3] ||
        source_dims[1] + amounts[2] + amounts[3] != in_dims[1] ||
        source_dims[2] + amounts[4] + amounts[5] != in_dims[2]) {
      return fail("PAD shapes do not add up");
    }
    pad_top = static_cast<int>(amounts[2]);
    pad_left = static_cast<int>(amounts[4]);
  }
  if (same) {
    pad_top += SamePaddingBefore(in_dims[1], out_h, kh, stride_h, dilation_h);
    pad_left += SamePaddingBefore(in_dims[2], out_w, kw, stride_w, dilation_w);
  }

  ChainPlan plan_out;
  plan_out.meta = chain;
  if (pad) plan_out.nodes.push_back(pad->index);
  plan_out.nodes.push_back(conv->index);
  plan_out.nodes.push_back(mul->index);
  if (add) plan_out.nodes.push_back(add->index);
  plan_out.input_tensor = source;
  plan_out.output_tensor = chain_out;
  if (pad) plan_out.internal_tensors.push_back(conv_in);
  plan_out.internal_tensors.push_back(conv_out);
  if (add) plan_out.internal_tensors.push_back(mul_out);
  SparseConvParams& p = plan_out.params;
  p.batch = batch;
  p.input_height = source_dims[1];
  p.input_width = source_dims[2];
  p.input_channels = source_dims[3];
  p.output_height = out_h;
  p.output_width = out_w;
  p.output_channels = out_c;
  p.kernel_height = kh;
  p.kernel_width = kw;
  p.stride_height = stride_h;
  p.stride_width = stride_w;
  p.dilation_height = dilation_h;
  p.dilation_width = dilation_w;
  p.padding_top = pad_top;
  p.padding_left = pad_left;
  p.depthwise = depthwise;
  p.depth_multiplier = multiplier;
  p.groups = groups;
  p.output_min = lo;
  p.output_max = hi;
  plan_out.weights = w_t.data.f;
  plan_out.conv_bias = conv_bias;
  plan_out.add_bias = add_bias;
  *out = std::move(plan_out);
  return true;
}

TfLiteStatus ChainKernel::Init(TfLiteContext* context, const TfLiteDelegateParams* params) {
  auto error = [&](const std::string& message) {
    context->ReportError(context, "%s", ("actsparse: " + message).c_str());
    return kTfLiteError;
  };
  if (chains_by_node_ == nullptr || params == nullptr || params->nodes_to_replace == nullptr) {
    return error("delegate kernel created without a prepared delegate");
  }
  std::set<const ChainPlan*> seen;
  std::vector<const ChainPlan*> chains;
  for (int i = 0; i < params->nodes_to_replace->size; ++i) {
    auto it = chains_by_node_->find(params->nodes_to_replace->data[i]);
    if (it == chains_by_node_->end()) return error("node " + std::to_string(params->nodes_to_replace->data[i]) + " was not claimed");
    if (seen.insert(it->second.get()).second) chains.push_back(it->second.get());
  }
  // Nodes arrive in execution order, so chains do too.
  std::set<int> partition_outputs(params->output_tensors->data,
                                  params->output_tensors->data + params->output_tensors->size);
  std::map<int, int> buffer_of;  // tensor -> our buffer
  for (const ChainPlan* chain : chains) {
    for (int internal : chain->internal_tensors) {
      if (partition_outputs.count(internal)) {
        return error(chain->meta.name + ": intermediate tensor " + std::to_string(internal) + " is needed outside the chain");
      }
    }
  }
  for (const ChainPlan* chain : chains) {
    Step step;
    step.plan = chain;
    std::string why;
    step.op = SparseConvOperator::Create(chain->params, chain->weights, chain->conv_bias,
                                         chain->add_bias, chain->meta.mask.data(), &why);
    if (!step.op) return error(chain->meta.name + ": " + why);
    auto in = buffer_of.find(chain->input_tensor);
    step.input_buffer = in == buffer_of.end() ? -1 : in->second;
    if (!partition_outputs.count(chain->output_tensor)) {
      const SparseConvParams& p = chain->params;
      buffers_.emplace_back(static_cast<size_t>(p.batch) * p.output_height * p.output_width * p.output_channels);
      step.output_buffer = static_cast<int>(buffers_.size()) - 1;
      buffer_of[chain->output_tensor] = step.output_buffer;
    }
    if (profile_) {
      const SparseConvParams& p = chain->params;
      step.profile = profile_->Get(chain->meta.name,
                                   std::to_string(p.output_height) + "x" + std::to_string(p.output_width) + "x" +
                                       std::to_string(p.output_channels),
                                   chain->meta.sparsity());
    }
    steps_.push_back(std::move(step));
  }
  return kTfLiteOk;
}

TfLiteStatus ChainKernel::Prepare(TfLiteContext* context, TfLiteNode* /*node*/) {
  for (const Step& step : steps_) {
    const SparseConvParams& p = step.plan->params;
    const std::vector<int> want_in = {p.batch, p.input_height, p.input_width, p.input_channels};
    const std::vector<int> want_out = {p.batch, p.output_height, p.output_width, p.output_channels};
    if (step.input_buffer < 0 && Dims(T(context, step.plan->input_tensor)) != want_in) {
      context->ReportError(context, "%s", ("actsparse: " + step.plan->meta.name + ": input is " +
                                           DimsText(Dims(T(context, step.plan->input_tensor))) +
                                           ", the masks were made for " + DimsText(want_in)).c_str());
      return kTfLiteError;
    }
    if (step.output_buffer < 0 && Dims(T(context, step.plan->output_tensor)) != want_out) {
      context->ReportError(context, "%s", ("actsparse: " + step.plan->meta.name + ": output shape changed").c_str());
      return kTfLiteError;
    }
  }
  return kTfLiteOk;
}

TfLiteStatus ChainKernel::Eval(TfLiteContext* context, TfLiteNode* /*node*/) {
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& step = steps_[i];
    const float* in = step.input_buffer >= 0 ? buffers_[step.input_buffer].data()
                                             : T(context, step.plan->input_tensor).data.f;
    float* out = step.output_buffer >= 0 ? buffers_[step.output_buffer].data()
                                         : context->tensors[step.plan->output_tensor].data.f;
    if (in == nullptr || out == nullptr) {
      if (pool_) pool_->HoldWorkers(false);
      context->ReportError(context, "%s", ("actsparse: " + step.plan->meta.name + ": tensor not allocated").c_str());
      return kTfLiteError;
    }
    // The chains of this partition follow one another at once: keep the
    // workers spinning between them instead of sleeping (see ThreadPool).
    if (pool_) pool_->HoldWorkers(true);
    if (step.profile == nullptr) {
      step.op->Run(in, out, pool_.get());
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    step.op->Run(in, out, pool_.get());
    const auto ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    step.profile->Add(ns);
  }
  if (pool_) pool_->HoldWorkers(false);
  return kTfLiteOk;
}

}  // namespace actsparse
