#include "kiln/nn/clip_grad.hpp"

#include <cmath>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::nn {

namespace {
// The gradients present, checked to share one floating dtype and one device.
std::vector<Tensor> gradients_of(const std::vector<Tensor>& parameters, const char* op) {
  std::vector<Tensor> grads;
  std::size_t first = 0;  // the parameter of grads.front()
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    KILN_CHECK(parameters[i].defined(), op, ": parameter ", i, " is undefined (default-constructed)");
    Tensor g = parameters[i].grad();
    if (!g.defined()) continue;
    KILN_CHECK(is_floating(g.dtype()), op, ": the gradient of parameter ", i, " has dtype ", g.dtype(),
               "; clipping needs float32 or float64 gradients");
    if (grads.empty()) {
      first = i;
    } else {
      const Tensor& f = grads.front();
      KILN_CHECK(g.device() == f.device() && g.dtype() == f.dtype(), op, ": parameter ", first,
                 "'s gradient is ", f.dtype(), " on ", f.device(), " but parameter ", i, "'s is ", g.dtype(),
                 " on ", g.device(), "; clip the parameters of each dtype and device in a call of their own");
    }
    grads.push_back(std::move(g));
  }
  return grads;
}
}  // namespace

Tensor clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  KILN_CHECK(std::isfinite(max_norm) && max_norm >= 0,
             "clip_grad_norm_: max_norm must be finite and >= 0, not ", max_norm);
  const bool inf = std::isinf(norm_type) && norm_type > 0;
  KILN_CHECK(inf || (std::isfinite(norm_type) && norm_type > 0), "clip_grad_norm_: norm_type must be > 0 ",
             "(2 for the Euclidean norm, nn::kInfNorm for the largest magnitude), not ", norm_type);
  NoGradGuard no_grad;
  const std::vector<Tensor> grads = gradients_of(parameters, "clip_grad_norm_");
  if (grads.empty()) return zeros({});

  // Each gradient's share of the norm (its p-th power sum, or its largest magnitude),
  // added up (or maxed) on the gradients' device.
  Tensor total;
  for (const Tensor& g : grads) {
    if (g.numel() == 0) continue;
    Tensor part = inf                ? max(abs(g))
                  : norm_type == 2.0 ? sum(g * g)
                  : norm_type == 1.0 ? sum(abs(g))
                                     : sum(pow(abs(g), norm_type));
    total = !total.defined() ? part : inf ? maximum(total, part) : total + part;
  }
  if (!total.defined()) total = zeros({}, grads.front().dtype(), grads.front().device());
  if (!inf && norm_type != 1.0) total = norm_type == 2.0 ? sqrt(total) : pow(total, 1.0 / norm_type);

  if (error_if_nonfinite) {
    const double norm = total.item<double>();
    KILN_CHECK(
        std::isfinite(norm), "clip_grad_norm_: the gradients' total norm of order ", norm_type, " is ", norm,
        "; some gradient holds NaN or infinity (kiln::set_detect_anomaly(true) finds the op that made it)");
  }
  // min(1, max_norm / (norm + 1e-6)), as a tensor so that a GPU need not report the norm.
  // The CPU reads it, and leaves the gradients untouched when there is nothing to clip.
  const Tensor scale = clamp(max_norm / (total + 1e-6), 0.0, 1.0);
  if (scale.device().is_cpu()) {
    const double s = scale.item();
    if (s < 1.0)
      for (Tensor g : grads) g.mul_(s);
  } else {
    for (Tensor g : grads) g.copy_(g * scale);
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  KILN_CHECK(std::isfinite(clip_value) && clip_value >= 0,
             "clip_grad_value_: clip_value must be finite and >= 0, not ", clip_value);
  NoGradGuard no_grad;
  for (Tensor g : gradients_of(parameters, "clip_grad_value_")) g.copy_(clamp(g, -clip_value, clip_value));
}

}  // namespace kiln::nn
