#include "delegate/tflite/chain_profile.h"

#include <algorithm>
#include <cstdio>

namespace actsparse {

ChainProfile::Entry* ChainProfile::Get(const std::string& name, const std::string& output,
                                       double sparsity) {
  auto found = by_name_.find(name);
  if (found != by_name_.end()) return found->second;
  entries_.push_back(Entry{name, output, sparsity});
  by_name_[name] = &entries_.back();
  return &entries_.back();
}

void ChainProfile::Entry::Add(uint64_t ns) {
  if (!warm) {
    warm = true;
    return;
  }
  calls += 1;
  total_ns += ns;
  min_ns = std::min(min_ns, ns);
}

std::string ChainProfile::Report(int num_threads) const {
  uint64_t all_ns = 0, most_calls = 0;
  size_t width = 10;  // "all chains"
  for (const Entry& entry : entries_) {
    all_ns += entry.total_ns;
    most_calls = std::max(most_calls, entry.calls);
    width = std::max(width, entry.name.size());
  }
  if (most_calls == 0) return "";
  std::string report;
  char line[512];
  std::snprintf(line, sizeof(line),
                "actsparse profile: %zu %s(s), %d thread(s), wall time per call inside the model "
                "(the first call of each %s not counted)\n",
                entries_.size(), unit_.c_str(), num_threads, unit_.c_str());
  report += line;
  std::snprintf(line, sizeof(line), "  %-*s  %-12s %8s %8s %10s %10s %7s\n", static_cast<int>(width), unit_.c_str(),
                "output", "sparsity", "calls", "mean ms", "best ms", "share");
  report += line;
  double per_inference_ms = 0;
  for (const Entry& entry : entries_) {
    if (entry.calls == 0) continue;
    const double mean_ms = entry.total_ns / 1e6 / entry.calls;
    per_inference_ms += mean_ms;
    std::snprintf(line, sizeof(line), "  %-*s  %-12s %8.3f %8llu %10.3f %10.3f %6.1f%%\n",
                  static_cast<int>(width), entry.name.c_str(), entry.output.c_str(), entry.sparsity,
                  static_cast<unsigned long long>(entry.calls), mean_ms, entry.min_ns / 1e6,
                  100.0 * entry.total_ns / std::max<uint64_t>(all_ns, 1));
    report += line;
  }
  std::snprintf(line, sizeof(line), "  %-*s  %-12s %8s %8s %10.3f\n", static_cast<int>(width), ("all " + unit_ + "s").c_str(), "",
                "", "", per_inference_ms);
  report += line;
  return report;
}

}  // namespace actsparse
