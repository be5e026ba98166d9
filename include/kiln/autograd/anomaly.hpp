// Anomaly detection: find the first operation that produced NaN or Inf.
//
//   kiln::set_detect_anomaly(true);      // or run with KILN_DETECT_ANOMALY=1
//   loss.backward();                      // throws kiln::Error naming the op
//
// While on, every operation recorded for autograd checks its output after its
// forward, and every backward rule checks the gradients it returns; the first
// non-finite value stops the program with a kiln::Error that names the op, says
// whether forward or backward, and lists the op's input shapes. It costs one pass
// over every recorded output and gradient, so it is off by default. (Operations
// that record nothing, under NoGradGuard or on tensors that need no gradient, are
// not checked.)
#pragma once

#include <cstdint>

namespace kiln {

void set_detect_anomaly(bool on);
bool is_anomaly_enabled();  // initially: KILN_DETECT_ANOMALY=1 in the environment

// Turns anomaly detection on (or off) for its scope.
class DetectAnomalyGuard {
public:
  explicit DetectAnomalyGuard(bool on = true) : previous_(is_anomaly_enabled()) { set_detect_anomaly(on); }
  ~DetectAnomalyGuard() { set_detect_anomaly(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

private:
  bool previous_;
};

// Autograd nodes alive in this process: after backward() (without retain_graph)
// and once the outputs are gone, the graph is freed and this returns to its
// earlier value (a memory check for tests).
std::int64_t live_autograd_nodes();

}  // namespace kiln
