// Weight normalisation and spectral normalisation: a layer's weight computed, at every
// call, from other tensors (PyTorch's torch.nn.utils.weight_norm / spectral_norm).
//
//   auto fc = nn::weight_norm(std::make_shared<nn::Linear>(784, 256));
//   // fc->named_parameters(): bias, weight_g (256, 1), weight_v (256, 784); fc->weight is
//   // now g v / ||v|| (norm of each output row), recomputed before each call of (*fc)(x).
//
//   auto conv = nn::spectral_norm(std::make_shared<nn::Conv2d>(64, 128, 3));
//   // weight_orig is the parameter; buffers weight_u, weight_v hold the power iteration's
//   // vectors. In training mode every call takes one step of it, then uses
//   // weight_orig / sigma with sigma = u^T W v (W = weight_orig as a matrix, dim first).
//
// The names of the new tensors are PyTorch's, so a state_dict loads from and into a
// PyTorch model made the same way. Both work on any parameter the layer binds to a
// member (every weight of kiln's layers). As in PyTorch the recomputation runs in a
// forward pre-hook: call the layer (`(*fc)(x)`, or through Sequential), not
// fc->forward(x), which would use the weight of the last call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kiln/nn/module.hpp"

namespace kiln::nn {

// ---- The computations, as functions ---------------------------------------------------

// The 2-norm of v over every dimension except `dim`, keeping v's rank (sizes 1 except at
// dim): the shape of weight_norm's g. With dim = nullopt, the norm of all of v (a scalar).
Tensor norm_except_dim(const Tensor& v, std::optional<std::int64_t> dim);

// g v / norm_except_dim(v, dim) (torch._weight_norm); differentiable in v and g.
Tensor weight_norm_weight(const Tensor& v, const Tensor& g, std::optional<std::int64_t> dim = 0);

// W / sigma with W = weight's dimension `dim` moved first and the rest flattened, and
// sigma = u^T W v. With n_power_iterations > 0 the vectors u (W's rows) and v (its
// columns) first take that many steps v = normalize(W^T u), u = normalize(W v), written
// into them in place, without gradient; the gradient reaches weight through both W and sigma.
Tensor spectral_norm_weight(const Tensor& weight, Tensor& u, Tensor& v, std::int64_t dim = 0,
                            std::int64_t n_power_iterations = 1, double eps = 1e-12);

// ---- On a module ----------------------------------------------------------------------

// Replaces parameter `name` (w) by name_g = norm_except_dim(w, dim) and name_v = w, and
// the layer's member by weight_norm_weight(name_v, name_g, dim) before each call.
void weight_norm(Module& module, const std::string& name = "weight", std::optional<std::int64_t> dim = 0);
// Folds name_g and name_v back into one parameter `name` holding the weight they give.
void remove_weight_norm(Module& module, const std::string& name = "weight");

struct SpectralNormOptions {
  std::int64_t n_power_iterations = 1;  // steps per call in training mode (>= 0)
  double eps = 1e-12;                   // the least norm normalize divides by
  std::optional<std::int64_t> dim;      // the output dimension: 1 for ConvTranspose layers, else 0
};

// Replaces parameter `name` by name_orig, with buffers name_u and name_v drawn from a
// normal distribution and normalised; before each call the layer's member becomes
// spectral_norm_weight(name_orig, name_u, name_v, ...), stepping the power iteration only
// in training mode.
void spectral_norm(Module& module, const std::string& name = "weight",
                   const SpectralNormOptions& options = {});
// Makes `name` a parameter again, holding the normalised weight of the current u and v.
void remove_spectral_norm(Module& module, const std::string& name = "weight");

// The same on a shared module, returned for building a model in one expression.
template <class M>
std::shared_ptr<M> weight_norm(std::shared_ptr<M> module, const std::string& name = "weight",
                               std::optional<std::int64_t> dim = 0) {
  weight_norm(*module, name, dim);
  return module;
}
template <class M>
std::shared_ptr<M> spectral_norm(std::shared_ptr<M> module, const std::string& name = "weight",
                                 const SpectralNormOptions& options = {}) {
  spectral_norm(*module, name, options);
  return module;
}

}  // namespace kiln::nn
