// The two symbols the shared library exports: the external-delegate plugin
// ABI used by ai-edge-litert / tflite-runtime (load_delegate) and by
// benchmark_model --external_delegate_path. Everything else is hidden.
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "delegate/abi/tflite_abi.h"
#include "delegate/common/options.h"
#include "delegate/tflite/actsparse_delegate.h"
#include "delegate/tflite/simple_delegate.h"

#define ACTSPARSE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

void ReportCreateError(void (*report_error)(const char*), const std::string& message) {
  const std::string text = "actsparse: " + message;
  // The callback is only valid during this call; benchmark_model passes NULL.
  if (report_error != nullptr) {
    report_error(text.c_str());
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
}

}  // namespace

ACTSPARSE_EXPORT TfLiteDelegate* tflite_plugin_create_delegate(
    const char* const* keys, const char* const* values, size_t num_options,
    void (*report_error)(const char*)) {
  // Python's load_delegate declares this argument as a C int, so only the low
  // 32 bits of the register are defined there; no caller has 2^32 options.
  const size_t count = num_options & 0xffffffffu;
  try {
    actsparse::DelegateOptions options;
    std::string error;
    if (!actsparse::ParseDelegateOptions(keys, values, count, &options, &error)) {
      ReportCreateError(report_error, error);
      return nullptr;
    }
    TfLiteDelegate* delegate = actsparse::CreateTfLiteDelegate(
        std::make_unique<actsparse::ActsparseDelegate>(options));
    if (delegate == nullptr) ReportCreateError(report_error, "out of memory");
    return delegate;
  } catch (const std::exception& e) {
    ReportCreateError(report_error, std::string("cannot create the delegate: ") + e.what());
  } catch (...) {
    ReportCreateError(report_error, "cannot create the delegate");
  }
  return nullptr;
}

ACTSPARSE_EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  actsparse::DestroyTfLiteDelegate(delegate);
}
