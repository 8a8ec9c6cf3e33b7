// Wall time of each delegated chain inside the running model, kept when the
// delegate option `profile` is on and printed when the delegate is deleted.
// `actsparse bench --per-layer` times each chain cut out of the model alone;
// this times it where it runs, with the model's cache state and the
// hand-offs between the runtime's threads and ours.
#ifndef ACTSPARSE_DELEGATE_TFLITE_CHAIN_PROFILE_H_
#define ACTSPARSE_DELEGATE_TFLITE_CHAIN_PROFILE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace actsparse {

class ChainProfile {
 public:
  // `unit` names what is timed in the report: "chain" (claim=chains) or
  // "step" (claim=graph: one fused op each).
  explicit ChainProfile(std::string unit = "chain") : unit_(std::move(unit)) {}

  struct Entry {
    std::string name;
    std::string output;  // "HxWxC"
    double sparsity = 0;
    bool warm = false;  // the first call (indirection planning, cold caches) is not counted
    uint64_t calls = 0;
    uint64_t total_ns = 0;
    uint64_t min_ns = UINT64_MAX;

    void Add(uint64_t ns);
  };

  // The entry of chain `name`, created on first use. Kernels made by later
  // Prepares of the same model (after a resize) add to the same entry.
  // Entries never move.
  Entry* Get(const std::string& name, const std::string& output, double sparsity);

  // One line per chain (step) in model order: calls, mean and best ms per call,
  // share of all chains' time; then the sum of the means (the chains' time
  // per inference). Empty when no chain ran more than once.
  std::string Report(int num_threads) const;

 private:
  std::string unit_;
  std::deque<Entry> entries_;  // model order (first use)
  std::map<std::string, Entry*> by_name_;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_TFLITE_CHAIN_PROFILE_H_
