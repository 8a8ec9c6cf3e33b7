// Runtime sanity checks of the TFLite ABI we declared ourselves.
//
// The static_asserts in tflite_abi.h pin our layouts; these checks catch the
// case where the *runtime's* layouts differ (a future or foreign TFLite): if
// what we read through our structs is inconsistent, the delegate claims
// nothing and says why, instead of computing with garbage.
#ifndef ACTSPARSE_DELEGATE_TFLITE_ABI_CHECK_H_
#define ACTSPARSE_DELEGATE_TFLITE_ABI_CHECK_H_

#include <string>

#include "delegate/abi/tflite_abi.h"

namespace actsparse {

// The context's function table and tensor array look like a TFLite context.
bool CheckContextAbi(const TfLiteContext* context, std::string* why);

// A node's input/output lists and registration look sane (indices in range,
// builtin code plausible). Does not look at the tensors.
bool CheckNodeAbi(const TfLiteContext* context, int node_index, const TfLiteNode* node,
                  const TfLiteRegistration* registration, std::string* why);

// A tensor's type, dims and byte size agree with each other. Call it on the
// tensors of the nodes the delegate looks at.
bool CheckTensorAbi(const TfLiteContext* context, int tensor_index, std::string* why);

// Byte size of one element of TfLiteType `type`, or 0 when it has none
// (strings, ...) or is not a type code we know.
size_t TfLiteTypeSize(int32_t type);

// "CONV_2D", "ADD", ... for the operators the delegate talks about in logs;
// "builtin #N" for the others.
std::string BuiltinName(int32_t builtin_code);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_ABI_CHECK_H_
