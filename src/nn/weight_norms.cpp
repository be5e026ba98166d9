// Weight and spectral normalisation: the functions, and their attachment to a module as a
// forward pre-hook that recomputes the layer's bound member from the new parameters.
#include "kiln/nn/weight_norms.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/nn/layers.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/nn/parametrization.hpp"

namespace kiln::nn {

namespace {

// dim in [-rank, rank), made non-negative.
std::int64_t checked_dim(const char* op, const Tensor& t, std::int64_t dim) {
  const std::int64_t rank = t.dim();
  KILN_CHECK(dim >= -rank && dim < rank, op, ": dim ", dim, " is out of range for a weight of shape ",
             fmt(t.shape()), " (rank ", rank, ")");
  return dim < 0 ? dim + rank : dim;
}

// The weight as a matrix whose rows run along `dim` (spectral norm's W).
Tensor as_matrix(const Tensor& weight, std::int64_t dim) {
  Tensor w = weight;
  if (dim != 0) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(weight.dim()));
    std::iota(order.begin(), order.end(), 0);
    order.erase(order.begin() + dim);
    order.insert(order.begin(), dim);
    w = weight.permute(order);
  }
  return w.reshape({w.size(0), w.numel() / w.size(0)});
}

}  // namespace

Tensor norm_except_dim(const Tensor& v, std::optional<std::int64_t> dim) {
  if (!dim) return norm(v);
  const std::int64_t d = checked_dim("norm_except_dim", v, *dim);
  Dims others;
  for (std::int64_t i = 0; i < v.dim(); ++i)
    if (i != d) others.push_back(i);
  return others.empty() ? abs(v) : norm(v, 2, others, /*keepdim=*/true);
}

Tensor weight_norm_weight(const Tensor& v, const Tensor& g, std::optional<std::int64_t> dim) {
  const Tensor n = norm_except_dim(v, dim);
  KILN_CHECK(g.shape() == n.shape() || g.numel() == n.numel(), "weight_norm: g has shape ", fmt(g.shape()),
             " but the norms of v ", fmt(v.shape()), " over every dimension but ",
             dim ? std::to_string(*dim) : std::string("none"), " have shape ", fmt(n.shape()),
             "; g must hold one value per slice along dim");
  return v * (g.reshape(n.shape()) / n);
}

Tensor spectral_norm_weight(const Tensor& weight, Tensor& u, Tensor& v, std::int64_t dim,
                            std::int64_t n_power_iterations, double eps) {
  const std::int64_t d = checked_dim("spectral_norm", weight, dim);
  KILN_CHECK(weight.dim() >= 1, "spectral_norm: the weight must have at least one dimension");
  KILN_CHECK(n_power_iterations >= 0, "spectral_norm: n_power_iterations must be >= 0, got ",
             n_power_iterations);
  KILN_CHECK(eps > 0, "spectral_norm: eps must be positive, got ", eps);
  const Tensor w = as_matrix(weight, d);
  KILN_CHECK(u.dim() == 1 && u.size(0) == w.size(0) && v.dim() == 1 && v.size(0) == w.size(1),
             "spectral_norm: u ", fmt(u.shape()), " and v ", fmt(v.shape()), " must be vectors of (",
             w.size(0), ") and (", w.size(1), ") for a weight of shape ", fmt(weight.shape()),
             " seen as a matrix of ", fmt(w.shape()), " (dim ", d, " first)");
  if (n_power_iterations > 0) {
    NoGradGuard no_grad;
    const Tensor wd = w.detach();
    for (std::int64_t i = 0; i < n_power_iterations; ++i) {
      v.copy_(normalize(matmul(wd.t(), u.unsqueeze(1)).squeeze(1), 2, 0, eps));
      u.copy_(normalize(matmul(wd, v.unsqueeze(1)).squeeze(1), 2, 0, eps));
    }
  }
  // Copies, so that the next step's in-place writes leave this call's graph intact.
  const Tensor uc = u.detach().clone(), vc = v.detach().clone();
  const Tensor sigma = sum(uc * matmul(w, vc.unsqueeze(1)).squeeze(1));
  return weight / sigma;
}

void weight_norm(Module& module, const std::string& name, std::optional<std::int64_t> dim) {
  Tensor* slot = ParametrizationAccess::slot_of(module, "weight_norm", name);
  if (dim) dim = checked_dim("weight_norm", *slot, *dim);
  const Tensor v0 = ParametrizationAccess::take_parameter(module, name);
  Tensor g0;
  {
    NoGradGuard no_grad;
    g0 = norm_except_dim(v0.detach(), dim).clone();
  }
  const Tensor g = ParametrizationAccess::add_parameter(module, name + "_g", g0);
  const Tensor v = ParametrizationAccess::add_parameter(module, name + "_v", v0);
  ParametrizationAccess::attach(module, name, "weight_norm", slot,
                                [g, v, dim](bool) { return weight_norm_weight(v, g, dim); });
}

void remove_weight_norm(Module& module, const std::string& name) {
  ParametrizationAccess::release(module, "remove_weight_norm", name, "weight_norm");
  ParametrizationAccess::take_parameter(module, name + "_g");
  ParametrizationAccess::take_parameter(module, name + "_v");
}

void spectral_norm(Module& module, const std::string& name, const SpectralNormOptions& options) {
  Tensor* slot = ParametrizationAccess::slot_of(module, "spectral_norm", name);
  const bool transposed = dynamic_cast<ConvTranspose1d*>(&module) ||
                          dynamic_cast<ConvTranspose2d*>(&module) || dynamic_cast<ConvTranspose3d*>(&module);
  const std::int64_t dim = checked_dim("spectral_norm", *slot, options.dim.value_or(transposed ? 1 : 0));
  KILN_CHECK(options.n_power_iterations >= 0, "spectral_norm: n_power_iterations must be >= 0, got ",
             options.n_power_iterations);
  KILN_CHECK(options.eps > 0, "spectral_norm: eps must be positive, got ", options.eps);
  const Tensor orig = ParametrizationAccess::take_parameter(module, name);
  Tensor u0, v0;
  {
    NoGradGuard no_grad;
    const Tensor w = as_matrix(orig.detach(), dim);
    u0 = normalize(randn({w.size(0)}).to(orig.dtype()).to(orig.device()), 2, 0, options.eps);
    v0 = normalize(randn({w.size(1)}).to(orig.dtype()).to(orig.device()), 2, 0, options.eps);
  }
  ParametrizationAccess::add_parameter(module, name + "_orig", orig);
  Tensor u = ParametrizationAccess::add_buffer(module, name + "_u", u0);
  Tensor v = ParametrizationAccess::add_buffer(module, name + "_v", v0);
  const std::int64_t iterations = options.n_power_iterations;
  const double eps = options.eps;
  ParametrizationAccess::attach(module, name, "spectral_norm", slot, [=](bool training) mutable {
    return spectral_norm_weight(orig, u, v, dim, training ? iterations : 0, eps);
  });
}

void remove_spectral_norm(Module& module, const std::string& name) {
  ParametrizationAccess::release(module, "remove_spectral_norm", name, "spectral_norm");
  ParametrizationAccess::take_parameter(module, name + "_orig");
  ParametrizationAccess::take_buffer(module, name + "_u");
  ParametrizationAccess::take_buffer(module, name + "_v");
}

}  // namespace kiln::nn
