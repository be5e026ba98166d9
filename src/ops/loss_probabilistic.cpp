// Likelihood losses on probabilities, Gaussian and Poisson models, and multi-label
// logits: binary_cross_entropy, gaussian_nll_loss, poisson_nll_loss,
// multilabel_soft_margin_loss. Composites of elementwise ops (binary_cross_entropy
// with its own backward, PyTorch's), so each runs on either device.
#include <cmath>
#include <limits>
#include <numbers>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/loss.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/loss_reduction.hpp"

namespace kiln {

using detail::reduce_loss;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A host tensor's values all inside [lo, hi] (NaN fails); a GPU tensor is not read back.
void check_range_on_host(const char* op, const char* what, const Tensor& t, double lo, double hi,
                         const char* hint) {
  if (!t.device().is_cpu() || t.numel() == 0) return;
  NoGradGuard no_grad;
  const bool inside = all((t >= lo) & (t <= hi)).item() != 0.0;
  KILN_CHECK(inside, op, ": ", what, " of shape ", fmt(t.shape()), " has values outside [", lo, ", ", hi,
             "]; ", hint);
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight,
                            Reduction reduction) {
  constexpr const char* op = "binary_cross_entropy";
  detail::check_same_shape(op, input, target);
  detail::check_floating(op, input);
  check_range_on_host(
      op, "input", input, 0.0, 1.0,
      "pass probabilities (a sigmoid's output), or logits to binary_cross_entropy_with_logits");
  const Tensor x = input.detach(), y = target.detach();
  Tensor w;
  if (weight.defined()) {
    KILN_CHECK(weight.dim() <= x.dim(), op, ": weight of shape ", fmt(weight.shape()),
               " does not broadcast to the input's shape ", fmt(x.shape()));
    w = weight.detach().expand(x.shape());
  }
  Tensor losses, log_x, log_1mx;
  {
    NoGradGuard no_grad;
    log_x = clamp(log(x), -100.0, kInf);
    log_1mx = clamp(log1p(neg(x)), -100.0, kInf);
    losses = -(y * log_x + (1.0 - y) * log_1mx);
    if (w.defined()) losses = losses * w;
  }
  if (should_record({input, target})) {
    attach_grad_fn(losses, op, {input, target},
                   [input, target, x, y, w, log_x, log_1mx](const Tensor& g) {
                     const Tensor gw = w.defined() ? g * w : g;
                     // d/dx: (x - y) / (x (1 - x)), the denominator kept from 0; d/dy: log(1 - x) - log x.
                     // While the walk records, in ops of the input and target themselves.
                     const bool recording = is_grad_enabled();
                     const Tensor& xs = recording ? input : x;
                     const Tensor& ys = recording ? target : y;
                     const Tensor spread = maximum(xs * (1.0 - xs), scalar_like(x, 1e-12));
                     const Tensor log_ratio =
                         recording ? clamp(log1p(neg(input)), -100.0, kInf) - clamp(log(input), -100.0, kInf)
                                   : log_1mx - log_x;
                     return Grads{gw * (xs - ys) / spread, gw * log_ratio};
                   },
                   {input, target});
    mark_differentiable_backward(losses);
  }
  return reduce_loss(losses, reduction);
}

Tensor gaussian_nll_loss(const Tensor& input, const Tensor& target, const Tensor& var, bool full, double eps,
                         Reduction reduction) {
  constexpr const char* op = "gaussian_nll_loss";
  detail::check_same_shape(op, input, target);
  detail::check_floating(op, input);
  KILN_CHECK(eps > 0, op, ": eps must be > 0, not ", eps);
  Tensor v = var;
  if (v.shape() != input.shape()) {
    const Shape rows(input.shape().begin(), input.shape().end() - (input.dim() > 0 ? 1 : 0));
    const bool per_row = input.dim() > 0 && v.shape() == rows;  // one fewer dimension
    const bool last_one = input.dim() > 0 && v.dim() == input.dim() && v.size(-1) == 1 &&
                          Shape(v.shape().begin(), v.shape().end() - 1) == rows;
    KILN_CHECK(per_row || last_one, op, ": var of shape ", fmt(v.shape()), " does not fit the input's shape ",
               fmt(input.shape()), "; give the input's shape, or one variance per row (", fmt(rows),
               " or with a last dimension of 1)");
    if (per_row) v = v.unsqueeze(-1);
  }
  check_range_on_host(op, "var", var, 0.0, kInf, "variances must be >= 0");
  // v raised to eps, its gradient passing through unchanged (PyTorch clamps without recording).
  Tensor raised;
  {
    NoGradGuard no_grad;
    raised = clamp(v, eps, kInf) - v;
  }
  v = v + raised;
  const Tensor d = input - target;
  Tensor losses = (log(v) + d * d / v) * 0.5;
  if (full) losses = losses + 0.5 * std::log(2.0 * std::numbers::pi);
  return reduce_loss(losses, reduction);
}

Tensor poisson_nll_loss(const Tensor& input, const Tensor& target, bool log_input, bool full, double eps,
                        Reduction reduction) {
  constexpr const char* op = "poisson_nll_loss";
  detail::check_same_shape(op, input, target);
  detail::check_floating(op, input);
  Tensor losses = log_input ? exp(input) - target * input : input - target * log(input + eps);
  if (full) {
    // Stirling's term where target > 1, read at 2 elsewhere so nothing there is infinite.
    const Tensor above = gt(target, 1.0);
    const Tensor t = where(above, target, 2.0);
    const Tensor stirling = t * log(t) - t + log(t * (2.0 * std::numbers::pi)) * 0.5;
    losses = losses + where(above, stirling, 0.0);
  }
  return reduce_loss(losses, reduction);
}

Tensor multilabel_soft_margin_loss(const Tensor& input, const Tensor& target, const Tensor& weight,
                                   Reduction reduction) {
  constexpr const char* op = "multilabel_soft_margin_loss";
  detail::check_same_shape(op, input, target);
  detail::check_floating(op, input);
  KILN_CHECK(input.dim() >= 1 && input.size(-1) > 0, op, ": input of shape ", fmt(input.shape()),
             " needs a last dimension of classes");
  // -[y log s(x) + (1 - y) log s(-x)] = y softplus(-x) + (1 - y) softplus(x)
  Tensor losses = target * softplus(-input) + (1.0 - target) * softplus(input);
  if (weight.defined()) losses = losses * weight;
  return reduce_loss(sum(losses, {-1}) / static_cast<double>(input.size(-1)), reduction);
}

}  // namespace kiln
