// Pruning by masks. The masks are computed on the host in double precision (a one-off per
// pruning call, exact and easy to follow); the layer's member becomes orig * mask before
// each call through the same pre-hook machinery as weight_norm (parametrization.hpp).
#include "kiln/nn/prune.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/rng.hpp"
#include "kiln/ops/elementwise.hpp"
#include "src/nn/parametrization.hpp"

namespace kiln::nn::prune {

std::int64_t Amount::of(std::int64_t n, const char* op) const {
  if (is_count_) {
    KILN_CHECK(count_ >= 0 && count_ <= n, op, ": asked to prune ", count_, " of ", n,
               " unpruned candidates; a count must lie in [0, ", n, "] (or pass a fraction such as 0.3)");
    return count_;
  }
  KILN_CHECK(fraction_ >= 0 && fraction_ <= 1, op, ": the fraction to prune must lie in [0, 1], got ",
             fraction_, " (pass an integer to prune a count)");
  return static_cast<std::int64_t>(std::nearbyint(fraction_ * static_cast<double>(n)));  // half to even
}

namespace {

std::vector<double> host_values(const Tensor& t) {
  return t.detach().to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>();
}
// `values` as a tensor of `like`'s shape, dtype and device.
Tensor shaped_like(const std::vector<double>& values, const Tensor& like) {
  return from_vector(values, like.shape()).to(like.dtype()).to(like.device());
}

void check_mask(const char* op, const Tensor& scores, const Tensor& mask) {
  KILN_CHECK(mask.shape() == scores.shape(), op, ": the mask has shape ", fmt(mask.shape()),
             " but the tensor to prune has shape ", fmt(scores.shape()), "; they must match");
}

std::int64_t checked_dim(const char* op, const Tensor& t, std::int64_t dim) {
  KILN_CHECK(t.dim() >= 1 && dim >= -t.dim() && dim < t.dim(), op, ": dim ", dim,
             " is out of range for a tensor of shape ", fmt(t.shape()));
  return dim < 0 ? dim + t.dim() : dim;
}

// The flat positions of slice `s` along dim: index (outer, s, inner) of a (outer, n, inner) view.
struct Slices {
  std::int64_t outer = 1, n = 1, inner = 1;
  Slices(const Shape& shape, std::int64_t dim) {
    for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d)
      (d < dim ? outer : d == dim ? n : inner) *= shape[static_cast<std::size_t>(d)];
  }
  template <class F>
  void each(std::int64_t s, F f) const {
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) f((o * n + s) * inner + i);
  }
};

// Scores to rank by: NaN ranks above everything, as in torch.topk.
std::vector<double> ranked(std::vector<double> keys) {
  for (double& k : keys)
    if (std::isnan(k)) k = std::numeric_limits<double>::infinity();
  return keys;
}

// The unstructured rule on host values: among the positions where mask is 1, prune
// `amount` of them, those with the smallest keys (ties to the lower position).
std::vector<double> narrow_entries(std::vector<double> keys, const Amount& amount, std::vector<double> mask,
                                   const char* op) {
  keys = ranked(std::move(keys));
  std::vector<std::int64_t> open;
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (mask[i] != 0.0) open.push_back(static_cast<std::int64_t>(i));
  const std::int64_t k = amount.of(static_cast<std::int64_t>(open.size()), op);
  std::stable_sort(open.begin(), open.end(),
                   [&](std::int64_t a, std::int64_t b) { return keys[a] < keys[b]; });
  for (std::int64_t j = 0; j < k; ++j) mask[static_cast<std::size_t>(open[j])] = 0.0;
  return mask;
}

// The structured rule: among the slices along dim that still hold a 1, zero `amount` of
// them, ranked by slice_keys (smallest first; ties to the lower slice).
std::vector<double> narrow_slices(std::vector<double> slice_keys, const Slices& sl, const Amount& amount,
                                  std::vector<double> mask, const char* op) {
  slice_keys = ranked(std::move(slice_keys));
  std::vector<std::int64_t> open;
  for (std::int64_t s = 0; s < sl.n; ++s) {
    bool any = false;
    sl.each(s, [&](std::int64_t i) { any = any || mask[static_cast<std::size_t>(i)] != 0.0; });
    if (any) open.push_back(s);
  }
  const std::int64_t k = amount.of(static_cast<std::int64_t>(open.size()), op);
  std::stable_sort(open.begin(), open.end(),
                   [&](std::int64_t a, std::int64_t b) { return slice_keys[a] < slice_keys[b]; });
  for (std::int64_t j = 0; j < k; ++j)
    sl.each(open[j], [&](std::int64_t i) { mask[static_cast<std::size_t>(i)] = 0.0; });
  return mask;
}

std::vector<double> uniform_draws(std::size_t n) {
  std::vector<double> u(n);
  Generator& gen = default_generator();
  for (double& x : u) x = gen.uniform();
  return u;
}

// ---- On a module ------------------------------------------------------------------------

// The tensor the rules score (the weight as the layer uses it now) and the mask to narrow.
struct Target {
  Tensor scores, mask;
};
Target target_of(Module& module, const char* op, const std::string& name) {
  const std::string kind = ParametrizationAccess::kind_of(module, name);
  if (kind == "prune") {
    const Tensor scores = ParametrizationAccess::refreshed(module, name).detach();
    return {scores, ParametrizationAccess::buffer(module, name + "_mask")};
  }
  const Tensor* slot = ParametrizationAccess::slot_of(module, op, name);  // refuses weight_norm etc.
  NoGradGuard no_grad;
  return {slot->detach(), ones_like(*slot)};
}

// Makes `mask` the mask of `name`: the first time moves the parameter to name_orig and adds
// the buffer and the hook; later, writes the narrowed mask into the buffer in place.
void apply_mask(Module& module, const std::string& name, const Tensor& mask) {
  if (ParametrizationAccess::kind_of(module, name) == "prune") {
    Tensor buffer = ParametrizationAccess::buffer(module, name + "_mask");
    {
      NoGradGuard no_grad;
      buffer.copy_(mask);
    }
    ParametrizationAccess::refreshed(module, name);
    return;
  }
  Tensor* slot = ParametrizationAccess::slot_of(module, "prune", name);
  const Tensor orig = ParametrizationAccess::take_parameter(module, name);
  ParametrizationAccess::add_parameter(module, name + "_orig", orig);
  const Tensor m = ParametrizationAccess::add_buffer(module, name + "_mask", mask.detach().clone());
  // d(orig * mask)/d orig = mask: a pruned entry's gradient is zero.
  ParametrizationAccess::attach(module, name, "prune", slot, [orig, m](bool) { return orig * m; });
}

}  // namespace

Tensor l1_unstructured_mask(const Tensor& scores, const Amount& amount, const Tensor& mask) {
  check_mask("l1_unstructured", scores, mask);
  std::vector<double> keys = host_values(scores);
  for (double& k : keys) k = std::abs(k);
  return shaped_like(narrow_entries(keys, amount, host_values(mask), "l1_unstructured"), mask);
}

Tensor ln_structured_mask(const Tensor& scores, const Amount& amount, double n, std::int64_t dim,
                          const Tensor& mask) {
  check_mask("ln_structured", scores, mask);
  KILN_CHECK(n > 0, "ln_structured: the norm's order n must be positive (or infinity), got ", n);
  const Slices sl(scores.shape(), checked_dim("ln_structured", scores, dim));
  const std::vector<double> s = host_values(scores);
  std::vector<double> norms(static_cast<std::size_t>(sl.n));
  for (std::int64_t c = 0; c < sl.n; ++c) {
    double acc = 0;
    sl.each(c, [&](std::int64_t i) {
      const double a = std::abs(s[static_cast<std::size_t>(i)]);
      acc = std::isinf(n) ? std::max(acc, a) : acc + std::pow(a, n);
    });
    norms[static_cast<std::size_t>(c)] = std::isinf(n) ? acc : std::pow(acc, 1.0 / n);
  }
  return shaped_like(narrow_slices(norms, sl, amount, host_values(mask), "ln_structured"), mask);
}

void identity(Module& module, const std::string& name) {
  const Target t = target_of(module, "prune::identity", name);
  apply_mask(module, name, t.mask);
}

void l1_unstructured(Module& module, const std::string& name, const Amount& amount) {
  const Target t = target_of(module, "l1_unstructured", name);
  apply_mask(module, name, l1_unstructured_mask(t.scores, amount, t.mask));
}

void random_unstructured(Module& module, const std::string& name, const Amount& amount) {
  const Target t = target_of(module, "random_unstructured", name);
  const std::vector<double> keys = uniform_draws(static_cast<std::size_t>(t.scores.numel()));
  apply_mask(module, name,
             shaped_like(narrow_entries(keys, amount, host_values(t.mask), "random_unstructured"), t.mask));
}

void ln_structured(Module& module, const std::string& name, const Amount& amount, double n,
                   std::int64_t dim) {
  const Target t = target_of(module, "ln_structured", name);
  apply_mask(module, name, ln_structured_mask(t.scores, amount, n, dim, t.mask));
}

void random_structured(Module& module, const std::string& name, const Amount& amount, std::int64_t dim) {
  const Target t = target_of(module, "random_structured", name);
  const Slices sl(t.scores.shape(), checked_dim("random_structured", t.scores, dim));
  const std::vector<double> keys = uniform_draws(static_cast<std::size_t>(sl.n));
  apply_mask(module, name,
             shaped_like(narrow_slices(keys, sl, amount, host_values(t.mask), "random_structured"), t.mask));
}

void custom_from_mask(Module& module, const std::string& name, const Tensor& mask) {
  const Target t = target_of(module, "custom_from_mask", name);
  check_mask("custom_from_mask", t.scores, mask);
  const std::vector<double> given = host_values(mask);
  for (double v : given)
    KILN_CHECK(v == 0.0 || v == 1.0, "custom_from_mask: the mask must hold only 0 and 1, found ", v);
  std::vector<double> m = host_values(t.mask);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] *= given[i];
  apply_mask(module, name, shaped_like(m, t.mask));
}

void global_unstructured(const std::vector<std::pair<Module*, std::string>>& parameters, const Amount& amount,
                         Method method) {
  KILN_CHECK(!parameters.empty(), "global_unstructured: no parameters given; pass (module, name) pairs");
  std::vector<double> keys, mask;
  std::vector<Target> targets;
  for (std::size_t p = 0; p < parameters.size(); ++p) {
    const auto& [module, name] = parameters[p];
    KILN_CHECK(module != nullptr, "global_unstructured: a null module was given with '", name, "'");
    for (std::size_t q = 0; q < p; ++q)
      KILN_CHECK(parameters[q] != parameters[p], "global_unstructured: '", name, "' of ",
                 module->description(), " is listed twice; list each parameter once");
    targets.push_back(target_of(*module, "global_unstructured", name));
    const std::vector<double> s = host_values(targets.back().scores), m = host_values(targets.back().mask);
    keys.insert(keys.end(), s.begin(), s.end());
    mask.insert(mask.end(), m.begin(), m.end());
  }
  if (method == Method::l1_unstructured)
    for (double& k : keys) k = std::abs(k);
  else
    keys = uniform_draws(keys.size());
  const std::vector<double> narrowed = narrow_entries(keys, amount, std::move(mask), "global_unstructured");
  std::size_t at = 0;
  for (std::size_t p = 0; p < parameters.size(); ++p) {
    const auto n = static_cast<std::size_t>(targets[p].mask.numel());
    const std::vector<double> part(narrowed.begin() + static_cast<std::ptrdiff_t>(at),
                                   narrowed.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
    apply_mask(*parameters[p].first, parameters[p].second, shaped_like(part, targets[p].mask));
  }
}

void remove(Module& module, const std::string& name) {
  ParametrizationAccess::release(module, "prune::remove", name, "prune");
  ParametrizationAccess::take_parameter(module, name + "_orig");
  ParametrizationAccess::take_buffer(module, name + "_mask");
}

bool is_pruned(Module& module) {
  for (const auto& [_, m] : module.named_modules())
    if (ParametrizationAccess::has_kind(*m, "prune")) return true;
  return false;
}

}  // namespace kiln::nn::prune
