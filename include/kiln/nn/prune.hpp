// Pruning: zeroing a layer's weights by a mask (PyTorch's torch.nn.utils.prune).
//
//   nn::prune::l1_unstructured(*fc, "weight", 0.3);            // the 30 % smallest |w|
//   nn::prune::ln_structured(*conv, "weight", 0.5, 2, 0);      // half the filters, by L2 norm
//   nn::prune::global_unstructured({{fc1.get(), "weight"}, {fc2.get(), "weight"}}, 0.2);
//   ... train on: the pruned weights stay zero ...
//   nn::prune::remove(*fc, "weight");                          // make it permanent
//
// Pruning `name` moves the parameter to name_orig and adds a buffer name_mask (1 kept, 0
// pruned) of its shape and dtype; before each call a forward pre-hook sets the layer's
// member to name_orig * name_mask, so the pruned entries stay zero however the optimizer
// moves name_orig, and their gradient is zero. PyTorch's names, so state dicts cross over.
// As with weight_norm, call the layer (`(*fc)(x)`, or through Sequential), not forward().
//
// Pruning a tensor again narrows the same mask: the amount then counts the entries (or,
// for structured pruning, the slices along dim) that are still unpruned, and the scores
// are the pruned weight's. An amount is a fraction in [0, 1] of those (rounded half to
// even, as Python's round) or, given as an integer, a count of them.
//
// Ties between equal scores go to the lower index: of equal magnitudes (or slice norms,
// or random draws), the first is pruned first.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kiln/nn/module.hpp"

namespace kiln::nn::prune {

// How much to prune: a fraction (0.3) or a count (5).
class Amount {
public:
  Amount(double fraction) : fraction_(fraction), is_count_(false) {}  // NOLINT: implicit by design
  template <std::integral I>
  Amount(I count) : count_(static_cast<std::int64_t>(count)), is_count_(true) {}  // NOLINT
  // How many of `n` to prune; throws naming `op` when the amount does not fit.
  std::int64_t of(std::int64_t n, const char* op) const;

private:
  double fraction_ = 0;
  std::int64_t count_ = 0;
  bool is_count_;
};

// The rules as functions of a tensor of scores and its current mask (1 kept, 0 pruned),
// returning the narrowed mask (scores' shape, mask's dtype and device).
// `mask` narrowed by pruning `amount` of the entries where it is 1: those with the
// smallest |score|.
Tensor l1_unstructured_mask(const Tensor& scores, const Amount& amount, const Tensor& mask);
// `mask` narrowed by zeroing `amount` of the slices along `dim` that still hold a 1: those
// whose scores have the smallest n-norm (n > 0, or infinity), taken over the whole slice.
Tensor ln_structured_mask(const Tensor& scores, const Amount& amount, double n, std::int64_t dim,
                          const Tensor& mask);

// The layer's parameter `name` pruned by each rule (see the top of this file).
void identity(Module& module, const std::string& name);  // a mask of ones
void l1_unstructured(Module& module, const std::string& name, const Amount& amount);
void random_unstructured(Module& module, const std::string& name, const Amount& amount);
void ln_structured(Module& module, const std::string& name, const Amount& amount, double n, std::int64_t dim);
void random_structured(Module& module, const std::string& name, const Amount& amount, std::int64_t dim);
// Multiplies the mask by `mask` (0/1 values, the parameter's shape).
void custom_from_mask(Module& module, const std::string& name, const Tensor& mask);

enum class Method { l1_unstructured, random_unstructured };
// Prunes `amount` of the unpruned entries of all the given parameters taken together:
// with l1_unstructured, the smallest magnitudes across every layer.
void global_unstructured(const std::vector<std::pair<Module*, std::string>>& parameters, const Amount& amount,
                         Method method = Method::l1_unstructured);

// Makes the pruning permanent: `name` is a parameter again, holding name_orig * name_mask.
void remove(Module& module, const std::string& name);
// Whether any parameter of the module or of a module inside it is pruned.
bool is_pruned(Module& module);

}  // namespace kiln::nn::prune
