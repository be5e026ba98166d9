// Whether operations record the autograd graph (per thread, on by default).
#pragma once

namespace kiln {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// Turns graph recording off for its scope: use for inference and optimizer steps.
class NoGradGuard {
public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
  bool previous_;
};

// Turns graph recording on for its scope, whatever it was (inside a NoGradGuard too).
class EnableGradGuard {
public:
  EnableGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

private:
  bool previous_;
};

}  // namespace kiln
