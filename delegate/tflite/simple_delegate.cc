#include "delegate/tflite/simple_delegate.h"

#include <cstdlib>
#include <exception>
#include <new>

#include "delegate/tflite/abi_check.h"

namespace actsparse {
namespace {

struct DelegateGlue {
  TfLiteDelegate delegate;
  std::unique_ptr<DelegateInterface> impl;
};

TfLiteStatus DelegatePrepare(TfLiteContext* context, TfLiteDelegate* delegate);

// A TfLiteDelegate is ours iff its Prepare is ours: that reads only the
// struct we were handed, never memory behind a foreign delegate's data_.
DelegateGlue* GlueFrom(TfLiteDelegate* delegate) {
  if (delegate == nullptr || delegate->Prepare != &DelegatePrepare || delegate->data_ == nullptr) {
    return nullptr;
  }
  return static_cast<DelegateGlue*>(delegate->data_);
}

void Report(TfLiteContext* context, const std::string& message) {
  if (context != nullptr && context->ReportError != nullptr) {
    context->ReportError(context, "%s", message.c_str());
  }
}

// ---- kernel callbacks: the registration handed to the runtime ----

void* KernelInit(TfLiteContext* context, const char* buffer, size_t /*length*/) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  DelegateGlue* glue = params ? GlueFrom(params->delegate) : nullptr;
  if (glue == nullptr) {
    Report(context, "actsparse: kernel init without an actsparse delegate");
    return nullptr;
  }
  try {
    std::unique_ptr<DelegateKernel> kernel = glue->impl->CreateKernel();
    if (kernel == nullptr || kernel->Init(context, params) != kTfLiteOk) return nullptr;
    return kernel.release();
  } catch (const std::exception& e) {
    Report(context, std::string("actsparse: kernel init failed: ") + e.what());
  } catch (...) {
    Report(context, "actsparse: kernel init failed");
  }
  return nullptr;
}

void KernelFree(TfLiteContext* /*context*/, void* buffer) {
  delete static_cast<DelegateKernel*>(buffer);
}

// Runs one kernel callback, turning a missing kernel or an exception into an
// error the runtime reports, never a crash.
template <typename Call>
TfLiteStatus Guarded(TfLiteContext* context, TfLiteNode* node, const char* stage, Call call) {
  auto* kernel = static_cast<DelegateKernel*>(node->user_data);
  if (kernel == nullptr) {
    Report(context, "actsparse: delegate kernel was not initialised (see the error above)");
    return kTfLiteError;
  }
  try {
    return call(kernel);
  } catch (const std::exception& e) {
    Report(context, std::string("actsparse: kernel ") + stage + " failed: " + e.what());
  } catch (...) {
    Report(context, std::string("actsparse: kernel ") + stage + " failed");
  }
  return kTfLiteError;
}

TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  return Guarded(context, node, "prepare",
                 [&](DelegateKernel* kernel) { return kernel->Prepare(context, node); });
}

TfLiteStatus KernelEval(TfLiteContext* context, TfLiteNode* node) {
  return Guarded(context, node, "eval",
                 [&](DelegateKernel* kernel) { return kernel->Eval(context, node); });
}

// ---- delegate Prepare: ABI checks, node filter, hand-over ----

// The runtime applies a delegate to every subgraph of a model in index order:
// the main graph (0), then the bodies of control-flow and StableHLO reduction
// ops, which their op reads or calls itself. Returns this context's subgraph
// index, or 0 when the runtime cannot tell (no AcquireSubgraphContext).
int SubgraphIndex(TfLiteContext* context) {
  if (context->AcquireSubgraphContext == nullptr || context->ReleaseSubgraphContext == nullptr) {
    return 0;
  }
  for (int index = 0;; ++index) {
    TfLiteContext* acquired = nullptr;
    if (context->AcquireSubgraphContext(context, index, &acquired) != kTfLiteOk) return 0;
    // Our own subgraph is in its delegate context already; releasing it would
    // switch it to the kernel context and take GetExecutionPlan away from us.
    if (acquired == context) return index;
    context->ReleaseSubgraphContext(context, index);
  }
}

TfLiteStatus PrepareImpl(TfLiteContext* context, DelegateGlue* glue) {
  DelegateInterface& impl = *glue->impl;
  const Logger& log = impl.logger();
  std::string why;
  if (!CheckContextAbi(context, &why)) {
    log.Log(LogLevel::kError, "runtime ABI check failed, claiming nothing: " + why);
    return kTfLiteOk;
  }
  const int subgraph = SubgraphIndex(context);
  if (subgraph != 0) {
    // The last Prepare's summary stays the main graph's.
    log.Logf(LogLevel::kInfo, "subgraph %d left to the runtime: only the main graph (0) is delegated",
             subgraph);
    return kTfLiteOk;
  }
  TfLiteIntArray* execution_plan = nullptr;
  if (context->GetExecutionPlan(context, &execution_plan) != kTfLiteOk ||
      execution_plan == nullptr || execution_plan->size < 0) {
    log.Log(LogLevel::kError, "runtime ABI check failed, claiming nothing: no execution plan");
    return kTfLiteOk;
  }
  std::vector<NodeInfo> plan;
  plan.reserve(static_cast<size_t>(execution_plan->size));
  for (int i = 0; i < execution_plan->size; ++i) {
    NodeInfo info;
    info.index = execution_plan->data[i];
    if (context->GetNodeAndRegistration(context, info.index, &info.node, &info.registration) !=
            kTfLiteOk ||
        !CheckNodeAbi(context, info.index, info.node, info.registration, &why)) {
      if (why.empty()) why = "GetNodeAndRegistration failed for node " + std::to_string(info.index);
      log.Log(LogLevel::kError, "runtime ABI check failed, claiming nothing: " + why);
      return kTfLiteOk;
    }
    plan.push_back(info);
  }
  if (!impl.BeginPrepare(context, plan, &why)) {
    // BeginPrepare has already logged its reason at the level it chose.
    log.Log(LogLevel::kDebug, "claiming nothing: " + why);
    return kTfLiteOk;
  }
  std::vector<int> claimed;
  for (const NodeInfo& info : plan) {
    std::string reason;
    if (impl.IsNodeSupported(context, info, &reason)) {
      claimed.push_back(info.index);
    } else if (!reason.empty()) {
      log.Logf(LogLevel::kDebug, "node %d %s not claimed: %s", info.index,
               BuiltinName(info.registration->builtin_code).c_str(), reason.c_str());
    }
  }
  impl.EndPrepare(context, plan, claimed);
  if (claimed.empty()) return kTfLiteOk;

  // TfLiteIntArray has a flexible array member: allocate header + data.
  auto* nodes = static_cast<TfLiteIntArray*>(
      std::malloc(sizeof(TfLiteIntArray) + sizeof(int) * claimed.size()));
  if (nodes == nullptr) throw std::bad_alloc();
  nodes->size = static_cast<int>(claimed.size());
  for (size_t i = 0; i < claimed.size(); ++i) nodes->data[i] = claimed[i];

  TfLiteRegistration registration{};  // the trailing fields must be zero
  registration.init = KernelInit;
  registration.free = KernelFree;
  registration.prepare = KernelPrepare;
  registration.invoke = KernelEval;
  registration.builtin_code = kTfLiteBuiltinCustom;
  registration.custom_name = impl.Name();
  registration.version = 1;
  const TfLiteStatus status = context->ReplaceNodeSubsetsWithDelegateKernels(
      context, registration, nodes, &glue->delegate);
  std::free(nodes);
  return status;
}

TfLiteStatus DelegatePrepare(TfLiteContext* context, TfLiteDelegate* delegate) {
  DelegateGlue* glue = GlueFrom(delegate);
  if (glue == nullptr) {
    Report(context, "actsparse: Prepare called with a delegate that is not ours");
    return kTfLiteError;
  }
  try {
    return PrepareImpl(context, glue);
  } catch (const std::exception& e) {
    glue->impl->logger().Log(LogLevel::kError, std::string("delegate prepare failed: ") + e.what());
  } catch (...) {
    glue->impl->logger().Log(LogLevel::kError, "delegate prepare failed");
  }
  // The graph is untouched until ReplaceNodeSubsetsWithDelegateKernels, so an
  // exception before it leaves the whole model with the runtime.
  return kTfLiteOk;
}

}  // namespace

TfLiteDelegate* CreateTfLiteDelegate(std::unique_ptr<DelegateInterface> impl) {
  if (impl == nullptr) return nullptr;
  auto* glue = new (std::nothrow) DelegateGlue();
  if (glue == nullptr) return nullptr;
  glue->impl = std::move(impl);
  glue->delegate = TfLiteDelegate{};
  glue->delegate.data_ = glue;
  glue->delegate.Prepare = DelegatePrepare;
  glue->delegate.flags = 0;  // no dynamic tensors: kernels re-init on resize
  return &glue->delegate;
}

void DestroyTfLiteDelegate(TfLiteDelegate* delegate) {
  delete GlueFrom(delegate);
}

DelegateInterface* GetDelegateInterface(TfLiteDelegate* delegate) {
  DelegateGlue* glue = GlueFrom(delegate);
  return glue ? glue->impl.get() : nullptr;
}

}  // namespace actsparse
