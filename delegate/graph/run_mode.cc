#include "delegate/graph/run_mode.h"

#include <algorithm>

namespace actsparse {
namespace graph {

void RunModeChooser::Window::Add(double t) {
  times[next] = t;
  next = (next + 1) % kWindow;
  count = std::min(count + 1, kWindow);
}

double RunModeChooser::Window::Median() const {
  std::array<double, kWindow> sorted = times;
  std::sort(sorted.begin(), sorted.begin() + count);
  return sorted[count / 2];
}

void RunModeChooser::Record(double time) {
  if (probing_) {
    probe_times_[probe_runs_++] = time;
    if (probe_runs_ == kProbeRuns) FinishProbe();
    return;
  }
  ++runs_since_probe_;
  current_.Add(time);
  bool slow = false;
  if (current_.count == kWindow) {
    // Much slower than of late: something else may have taken a core.
    const double median = current_.Median();
    slow = best_median_ > 0 && runs_since_probe_ >= slow_probe_spacing_ && median > kSlowRun * best_median_;
    best_median_ = best_median_ > 0 ? std::min(best_median_, median) : median;
  }
  const bool due = runs_since_probe_ >= interval_;
  if (due || slow) {
    probe_asked_by_slow_runs_ = !due;
    probing_ = true;
    probe_runs_ = 0;
  }
}

void RunModeChooser::FinishProbe() {
  probing_ = false;
  runs_since_probe_ = 0;
  const double probe_slowest = *std::max_element(probe_times_.begin(), probe_times_.end());
  if (current_.count > 0 && probe_slowest < kSwitchMargin * current_.Median()) {
    current_workers_ = !current_workers_;
    current_.Clear();
    for (double t : probe_times_) current_.Add(t);
    interval_ = kFirstInterval;
    slow_probe_spacing_ = kFirstInterval;
  } else {
    interval_ = std::min(interval_ * 2, current_workers_ ? kMaxIntervalWorkers : kMaxIntervalCaller);
    if (probe_asked_by_slow_runs_) slow_probe_spacing_ = std::min(slow_probe_spacing_ * 2, kMaxIntervalWorkers);
  }
  best_median_ = 0;  // from the runs after this probe
}

}  // namespace graph
}  // namespace actsparse
