// Loss functions. `reduction` picks mean (default), sum, or none (per-sample losses).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

enum class Reduction { mean, sum, none };

// Cross-entropy of logits (N, C) against class indices (N) (int64/int32), fused:
// log-softmax and negative log-likelihood in one pass, gradient softmax - target.
// label_smoothing e mixes the one-hot target with the uniform distribution: (1-e) onehot + e/C.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::mean,
                     double label_smoothing = 0.0);
// Negative log-likelihood of log-probabilities (N, C) at class indices (N).
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction = Reduction::mean);
// (input - target)^2
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// |input - target|; its gradient is sign(input - target), 0 where they are equal.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// With d = |input - target|: 0.5 d^2 / beta where d < beta, else d - 0.5 beta (quadratic
// near 0, linear beyond beta, continuous in value and slope; beta = 0 is l1_loss).
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                      double beta = 1.0);
// 0.5 d^2 where d < delta, else delta (d - 0.5 delta): delta times smooth_l1_loss with beta = delta.
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
                  double delta = 1.0);
// Kullback-Leibler divergence of `target` from the distribution whose log-probabilities are
// `input` (torch.nn.functional.kl_div), element by element: target (log target - input),
// 0 where target is 0; with log_target, target holds log-probabilities too:
// e^target (target - input). Reduction::mean averages over all elements, as PyTorch's
// "mean"; PyTorch's "batchmean", the divergence per sample, is Reduction::sum divided by N.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean,
              bool log_target = false);
// -[w y log s(x) + (1 - y) log(1 - s(x))], s the sigmoid, w = pos_weight (broadcast over the
// last dimension; undefined = 1), computed from logits without overflow.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& pos_weight = Tensor(),
                                        Reduction reduction = Reduction::mean);

}  // namespace kiln
