// Gradient clipping, as torch.nn.utils does it: call between backward() and the
// optimizer's step, on the parameters whose gradients that backward pass filled
// (a parameter without a gradient is skipped).
//
//   loss.backward();
//   nn::clip_grad_norm_(model.parameters(), 1.0);
//   optimizer.step();
#pragma once

#include <limits>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::nn {

// The norm of all the gradients joined into one vector, of order `norm_type` (2 by
// default; any p > 0, or infinity for the largest magnitude). When it exceeds `max_norm`,
// every gradient is scaled by max_norm / (norm + 1e-6), so the joined norm becomes
// max_norm; otherwise they stay as they are. Returns the norm before clipping, as a 0-d
// tensor on the gradients' device: on a GPU nothing waits for the device until the
// program reads it (item()). With error_if_nonfinite, a NaN or infinite norm is an
// Error instead (which reads it). The gradients must share one device and dtype.
Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

inline constexpr double kInfNorm = std::numeric_limits<double>::infinity();

// Clamps every gradient element into [-clip_value, clip_value].
void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value);

}  // namespace kiln::nn
