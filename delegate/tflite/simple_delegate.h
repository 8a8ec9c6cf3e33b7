// A delegate is a node filter plus a kernel factory (TFLite's SimpleDelegate
// idea, written for our own ABI declarations).
//
//   DelegateInterface   what a concrete delegate provides:
//     - BeginPrepare()        look at the whole model once (metadata, ...)
//     - IsNodeSupported()     the node filter: claim this node or say why not
//     - EndPrepare()          see the final claim list
//     - CreateKernel()        the kernel factory: one DelegateKernel per
//                             partition the runtime hands back
//   DelegateKernel      Init (graph queries allowed), Prepare (may run several
//                       times), Eval.
//
// This file and simple_delegate.cc are the only place that turns these into
// TfLiteDelegate / TfLiteRegistration callbacks. They check the runtime's ABI
// before trusting it, never let a C++ exception cross into the runtime, and
// claim nothing when anything looks wrong.
#ifndef ACTSPARSE_DELEGATE_TFLITE_SIMPLE_DELEGATE_H_
#define ACTSPARSE_DELEGATE_TFLITE_SIMPLE_DELEGATE_H_

#include <memory>
#include <string>
#include <vector>

#include "delegate/abi/tflite_abi.h"
#include "delegate/common/log.h"

namespace actsparse {

class DelegateKernel {
 public:
  virtual ~DelegateKernel() = default;
  // Called once per partition; `params` lists the claimed nodes it replaces.
  // Copy everything needed from the graph here: graph queries fail later.
  virtual TfLiteStatus Init(TfLiteContext* context, const TfLiteDelegateParams* params) = 0;
  virtual TfLiteStatus Prepare(TfLiteContext* context, TfLiteNode* node) = 0;
  virtual TfLiteStatus Eval(TfLiteContext* context, TfLiteNode* node) = 0;
};

struct NodeInfo {
  int index = -1;
  TfLiteNode* node = nullptr;
  TfLiteRegistration* registration = nullptr;
};

class DelegateInterface {
 public:
  virtual ~DelegateInterface() = default;

  // Name used for the delegate kernel's registration (custom_name) and logs.
  virtual const char* Name() const = 0;
  virtual const Logger& logger() const = 0;

  // Called once per delegate Prepare, after the ABI checks passed, with the
  // whole execution plan. Returning false claims nothing; the implementation
  // logs its own reason (the glue repeats it at debug level only).
  virtual bool BeginPrepare(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                            std::string* why) = 0;
  // The node filter. When it returns false, `reason` (if set) is logged at
  // debug level.
  virtual bool IsNodeSupported(TfLiteContext* context, const NodeInfo& node,
                               std::string* reason) = 0;
  // Called with the claimed node indices before they are handed to the runtime.
  virtual void EndPrepare(TfLiteContext* context, const std::vector<NodeInfo>& plan,
                          const std::vector<int>& claimed) = 0;

  // The kernel factory.
  virtual std::unique_ptr<DelegateKernel> CreateKernel() = 0;
};

// Wraps `impl` into a heap TfLiteDelegate the runtime can use. Free it with
// DestroyTfLiteDelegate.
TfLiteDelegate* CreateTfLiteDelegate(std::unique_ptr<DelegateInterface> impl);
void DestroyTfLiteDelegate(TfLiteDelegate* delegate);

// The DelegateInterface behind a TfLiteDelegate made by CreateTfLiteDelegate
// (for tests and the plugin entry points); null for a foreign delegate.
DelegateInterface* GetDelegateInterface(TfLiteDelegate* delegate);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_SIMPLE_DELEGATE_H_
