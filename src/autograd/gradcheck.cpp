#include "kiln/autograd/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "kiln/autograd/engine.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          std::vector<Tensor> inputs, double eps, double tol) {
  GradcheckResult result;
  // Private float64 copies that we may perturb in place.
  std::vector<bool> differentiable(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    differentiable[i] = is_floating(inputs[i].dtype());
    if (!differentiable[i]) continue;
    KILN_CHECK(inputs[i].dtype() == kFloat64, "gradcheck: input ", i, " is ", inputs[i].dtype(),
               "; finite differences need float64 inputs (use .to(kiln::kFloat64))");
    inputs[i] = inputs[i].detach().clone();
    inputs[i].requires_grad_(true);
  }
  const Tensor out = f(inputs);
  KILN_CHECK(out.dtype() == kFloat64, "gradcheck: the function returned ", out.dtype(),
             "; it must return float64");
  const std::int64_t m = out.numel();

  // Analytic Jacobian, one output element (one pass of grad()) at a time.
  std::vector<Tensor> wrt;  // the differentiable inputs
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (differentiable[i]) wrt.push_back(inputs[i]);
  std::vector<std::vector<std::vector<double>>> analytic(inputs.size());  // [input][out][elem]
  for (std::int64_t k = 0; k < m; ++k) {
    std::vector<Tensor> grads(wrt.size());
    if (out.requires_grad()) {
      Tensor seed = zeros_like(out);
      seed.data_ptr<double>()[k] = 1.0;
      grads = grad(out, wrt, seed, {.retain_graph = true, .allow_unused = true});
    }
    for (std::size_t i = 0, w = 0; i < inputs.size(); ++i) {
      if (!differentiable[i]) continue;
      const Tensor& g = grads[w++];
      analytic[i].push_back(g.defined() ? g.to_vector<double>()
                                        : std::vector<double>(inputs[i].numel(), 0.0));
    }
  }

  // Numeric Jacobian by central differences, compared entry by entry.
  NoGradGuard no_grad;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!differentiable[i]) continue;
    double* x = inputs[i].data_ptr<double>();
    for (std::int64_t e = 0; e < inputs[i].numel(); ++e) {
      const double saved = x[e];
      x[e] = saved + eps;
      const std::vector<double> plus = f(inputs).to_vector<double>();
      x[e] = saved - eps;
      const std::vector<double> minus = f(inputs).to_vector<double>();
      x[e] = saved;
      for (std::int64_t k = 0; k < m; ++k) {
        const double numeric = (plus[k] - minus[k]) / (2 * eps);
        const double a = analytic[i][k][e];
        const double err = std::abs(a - numeric);
        result.max_abs_error = std::max(result.max_abs_error, err);
        if (result.ok && !(err <= tol * (1 + std::abs(numeric)))) {
          result.ok = false;
          std::ostringstream os;
          os << "gradcheck: input " << i << " (shape " << fmt(inputs[i].shape()) << "), element " << e
             << ", output element " << k << ": analytic " << a << " vs numeric " << numeric;
          result.message = os.str();
        }
      }
    }
  }
  return result;
}

GradcheckResult gradgradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                              std::vector<Tensor> inputs, double eps, double tol) {
  // u: fixed values in [-1, 1) of f's output shape, from a small linear congruential stream
  // (the global generator is left alone).
  Tensor u;
  {
    NoGradGuard no_grad;
    const Tensor out = f(inputs);
    KILN_CHECK(out.dtype() == kFloat64, "gradgradcheck: the function returned ", out.dtype(),
               "; it must return float64");
    std::vector<double> values(static_cast<std::size_t>(out.numel()));
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (double& v : values) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      v = static_cast<double>(state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    }
    u = from_vector(values).reshape(out.shape());
  }
  // x -> the gradients of <f(x), u> with respect to the floating inputs, recorded, in one
  // vector (zeros for an input f does not use).
  const auto first_derivative = [&f, u](const std::vector<Tensor>& in) {
    const bool recording = is_grad_enabled();
    EnableGradGuard on;  // the finite differences call this under NoGradGuard
    std::vector<Tensor> wrt;
    for (const Tensor& t : in)
      if (is_floating(t.dtype())) wrt.push_back(recording ? t : t.detach().requires_grad_());
    const Tensor out = f(recording ? in : [&] {
      std::vector<Tensor> copy = in;
      for (std::size_t i = 0, w = 0; i < copy.size(); ++i)
        if (is_floating(copy[i].dtype())) copy[i] = wrt[w++];
      return copy;
    }());
    std::vector<Tensor> grads(wrt.size());
    if (out.requires_grad()) grads = grad(out, wrt, u, {.allow_unused = true, .create_graph = recording});
    std::vector<Tensor> flat;
    for (std::size_t w = 0; w < wrt.size(); ++w)
      flat.push_back((grads[w].defined() ? grads[w] : zeros_like(wrt[w]).detach()).reshape({-1}));
    Tensor joined = cat(flat, 0);
    if (!recording) joined = joined.detach();
    return joined;
  };
  return gradcheck(first_derivative, std::move(inputs), eps, tol);
}

}  // namespace kiln
