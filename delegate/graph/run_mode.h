// Whether a partition's next run uses the thread pool's workers or runs
// every task on the caller, chosen from the wall time of its own runs.
//
// Why: a worker that the OS time-slices with another busy process (another
// app on a phone; here a busy loop pinned to the other core) makes a run
// with workers slower than the caller alone: MobileNetV2 at 2 threads ran in
// 11.2-11.9 ms against 8.75 ms on the caller alone (XNNPACK at 2 threads:
// 9.2 ms), MobileNetV3-Large 10.5-10.6 against 7.4 (XNNPACK 9.0). XNNPACK
// keeps using its workers and loses too; we measure and take the faster.
//
// How: runs go in the current mode; every so often (and at once when the
// median of the mode's last runs has grown well above its best since the
// last probe, as when a co-runner starts) two runs go in the other mode, a
// probe. The chooser switches when the slower of the probe's runs beats the
// median of the current mode's last runs by a margin; each probe that
// confirms the current mode doubles the interval to the next one, so on a
// quiet machine the probes (runs on the caller alone, slower there) become
// rare: 2 runs in 258 once the interval is at its longest.
// Both modes compute the same bits (ThreadPool::UseWorkers).
#ifndef ACTSPARSE_DELEGATE_GRAPH_RUN_MODE_H_
#define ACTSPARSE_DELEGATE_GRAPH_RUN_MODE_H_

#include <array>
#include <cstddef>

namespace actsparse {
namespace graph {

class RunModeChooser {
 public:
  // Runs in a mode whose median decides (the last few).
  static constexpr size_t kWindow = 5;
  // Runs per probe of the other mode.
  static constexpr int kProbeRuns = 2;
  // Runs before the first probe, and after a switch: soon, since a
  // co-runner there from the start shows in nothing but a probe.
  static constexpr int kFirstInterval = 8;
  // The longest interval: on the caller alone shorter, as a co-runner that
  // has left shows in nothing but a probe.
  static constexpr int kMaxIntervalWorkers = 256;
  static constexpr int kMaxIntervalCaller = 64;
  // A probe switches when its slower run takes less than this fraction of
  // the current mode's median.
  static constexpr double kSwitchMargin = 0.9;
  // The current mode's median this many times its best since the last
  // probe (a co-runner has started) asks for a probe at once: at most once
  // per kFirstInterval runs, and half as often after each such probe that
  // kept the mode (the host's own load swings like that too).
  static constexpr double kSlowRun = 1.5;

  // Whether the next run should use the workers.
  bool NextRunUsesWorkers() const { return probing_ ? !current_workers_ : current_workers_; }
  // The wall time of the run NextRunUsesWorkers() chose, in any unit.
  void Record(double time);

  // For tests and reports.
  bool current_uses_workers() const { return current_workers_; }
  int interval() const { return interval_; }

 private:
  struct Window {
    std::array<double, kWindow> times{};
    size_t count = 0, next = 0;
    void Add(double t);
    void Clear() { count = next = 0; }
    double Median() const;  // of the last min(count, kWindow) runs; count > 0
  };

  void FinishProbe();

  bool current_workers_ = true;
  Window current_;
  bool probing_ = false;
  int probe_runs_ = 0;
  std::array<double, kProbeRuns> probe_times_{};
  int interval_ = kFirstInterval;  // runs in the current mode from one probe to the next
  int runs_since_probe_ = 0;
  double best_median_ = 0;  // of the current mode since the last probe; 0: none yet
  bool probe_asked_by_slow_runs_ = false;
  int slow_probe_spacing_ = kFirstInterval;  // runs from a probe before slow runs may ask for one
};

}  // namespace graph
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_GRAPH_RUN_MODE_H_
