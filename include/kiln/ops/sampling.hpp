// Random draws whose distribution comes from tensors (torch.bernoulli, torch.multinomial,
// torch.poisson, torch.normal), all from the global generator (kiln/core/rng.hpp), so a
// seeded run repeats them. The draws carry no gradient: for a differentiable
// (reparameterised) sample use distributions::Normal::rsample or gumbel_softmax.
//
//   manual_seed(0);
//   const Tensor next = multinomial(softmax(logits / temperature, -1), 1);  // one class per row
//   const Tensor noisy = poisson(rates);                                      // counts, rates' dtype
#pragma once

#include <cstdint>

#include "kiln/core/factories.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln {

// 1 where a uniform draw falls below p, else 0, in p's (floating) dtype and on its device:
// each entry is 1 with probability p[i], which must lie in [0, 1]. The second form draws
// x's shape with one probability for all.
Tensor bernoulli(const Tensor& p);
Tensor bernoulli(const Tensor& x, double p);

// Class indices drawn from rows of non-negative weights (torch.multinomial): probs of
// shape (k) or (rows, k), each row's weights finite and not all 0 (they need not sum to
// 1); int64 indices of shape (num_samples) or (rows, num_samples) on probs' device. With
// replacement every draw is independent; without, each row's draws are distinct, the
// i-th drawn from the weights of the classes not yet drawn (so num_samples may not exceed
// a row's count of nonzero weights).
Tensor multinomial(const Tensor& probs, std::int64_t num_samples, bool replacement = false);

// Poisson counts with the given rates (torch.poisson): each entry a draw from Poisson(rates[i]),
// the rates finite and >= 0, in their floating dtype and on their device.
Tensor poisson(const Tensor& rates);

// Normal draws mean + std * N(0, 1) with the shapes of mean and std broadcast together
// (torch.normal), each std >= 0; one of them may be a number. The last form makes a
// tensor of `shape` with one mean and std for all.
Tensor normal(const Tensor& mean, const Tensor& std);
Tensor normal(const Tensor& mean, double std);
Tensor normal(double mean, const Tensor& std);
Tensor normal(double mean, double std, const Shape& shape, DType dtype = kFloat32,
              Device device = Device::cpu());

}  // namespace kiln
