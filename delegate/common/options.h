// Delegate options as given by the runtime: string keys and string values
// (Python passes str(value); benchmark_model passes `k:v;k2:v2` pairs).
// Parsing is strict: an unknown key, a repeated key or a bad value is an error
// that names the key and the value, so a typo never silently changes nothing.
#ifndef ACTSPARSE_DELEGATE_COMMON_OPTIONS_H_
#define ACTSPARSE_DELEGATE_COMMON_OPTIONS_H_

#include <cstddef>
#include <string>

#include "delegate/common/log.h"

namespace actsparse {

struct DelegateOptions {
  // Worker threads for delegated kernels; kAutoThreads means "the
  // interpreter's recommended_num_threads if set, else 1".
  static constexpr int kAutoThreads = -1;
  static constexpr int kMaxThreads = 256;
  int num_threads = kAutoThreads;
  LogLevel log_level = LogLevel::kWarning;
  // Time each chain (claim=chains) or step (claim=graph) where it runs and
  // print the table to stderr when the delegate is deleted (see
  // tflite/chain_profile.h).
  bool profile = false;
  // What the delegate claims: every node it can compute (kGraph), or only
  // the masked chains listed in the model's metadata (kChains, the behaviour
  // before whole-graph claiming, kept for comparison).
  enum class Claim { kGraph, kChains };
  Claim claim = Claim::kGraph;
  // claim=graph: fuse ops inside a partition (false runs every node as its
  // own step, to measure what fusion gives).
  bool fuse = true;
};

// Human-readable list of the accepted keys and value forms, for --help texts
// and error messages.
const char* DelegateOptionsHelp();

// Parses `count` key/value pairs into `options`. On failure returns false and
// sets `error` to a one-line message naming the offending key and value.
// Null keys or values are errors, never dereferenced.
bool ParseDelegateOptions(const char* const* keys, const char* const* values,
                          size_t count, DelegateOptions* options, std::string* error);

// The thread count to use given the interpreter's recommendation (which is -1
// or 0 when the application set none).
int ResolveNumThreads(const DelegateOptions& options, int recommended_num_threads);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_COMMON_OPTIONS_H_
