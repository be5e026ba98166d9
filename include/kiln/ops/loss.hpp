// Loss functions. `reduction` picks mean (default), sum, or none (per-sample losses).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

enum class Reduction { mean, sum, none };

// Cross-entropy of logits (N, C) against class indices (N) (int64/int32), fused:
// log-softmax and negative log-likelihood in one pass, gradient softmax - target.
// label_smoothing e mixes the one-hot target with the uniform distribution: (1-e) onehot + e/C.
// With class weights w (C) and/or an ignore_index (PyTorch's, e.g. a padding token):
// sample i's loss is scaled by w[t_i], samples whose target is ignore_index count for
// nothing (0 with Reduction::none), and the mean divides by the sum of w[t_i] over the
// samples kept (by their count without weights), as PyTorch's. With label smoothing the
// smoothing term is -sum_c w[c] logp[i, c], averaged the same way. That form is a
// composite (the targets are read on the host; a GPU target tensor once, back); the
// weights get no gradient. Unlike PyTorch's default of -100, nothing is ignored unless
// ignore_index is given.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::mean,
                     double label_smoothing = 0.0, const Tensor& weight = Tensor(),
                     std::optional<std::int64_t> ignore_index = std::nullopt);
// Negative log-likelihood of log-probabilities (N, C) at class indices (N); weight and
// ignore_index as cross_entropy's.
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction = Reduction::mean,
                const Tensor& weight = Tensor(), std::optional<std::int64_t> ignore_index = std::nullopt);
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

// -w [y log x + (1 - y) log(1 - x)] of probabilities x in [0, 1] (torch's
// binary_cross_entropy; binary_cross_entropy_with_logits is the stabler choice after a
// sigmoid), each log clamped at -100 as PyTorch's, so x = 0 or 1 gives a finite loss.
// target has x's shape; weight (undefined = 1) broadcasts to it and gets no gradient.
// Gradients: x's w (x - y) / max(x (1 - x), 1e-12), the target's w (log(1 - x) - log x).
// On the CPU an x outside [0, 1] is an error; on a GPU it gives NaN (no copy to the host).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                            Reduction reduction = Reduction::mean);
// Negative log-likelihood of target under N(input, var) (torch's gaussian_nll_loss):
// 0.5 (log v + (input - target)^2 / v), plus 0.5 log(2 pi) when `full`, with v = var
// raised to at least eps (as PyTorch, without blocking var's gradient). var has input's
// shape, or one fewer dimension, or a last dimension of 1 (one variance per row). On the
// CPU a negative var is an error.
Tensor gaussian_nll_loss(const Tensor& input, const Tensor& target, const Tensor& var, bool full = false,
                         double eps = 1e-6, Reduction reduction = Reduction::mean);
// Negative log-likelihood of counts `target` under Poisson(rate) (torch's
// poisson_nll_loss): with log_input, input is log(rate): e^input - target input; else
// input is the rate: input - target log(input + eps). `full` adds Stirling's
// approximation of log(target!), target log target - target + 0.5 log(2 pi target),
// where target > 1.
Tensor poisson_nll_loss(const Tensor& input, const Tensor& target, bool log_input = true, bool full = false,
                        double eps = 1e-8, Reduction reduction = Reduction::mean);
// Multi-label classification of (N, C) logits against 0/1 targets (torch's
// multilabel_soft_margin_loss): per sample, the mean over classes of
// -w [y log s(x) + (1 - y) log(1 - s(x))], s the sigmoid, w = weight (C) or 1.
Tensor multilabel_soft_margin_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                   Reduction reduction = Reduction::mean);

// Connectionist temporal classification (Graves et al. 2006; torch's ctc_loss): the
// negative log-probability of each item's label sequence summed over every alignment of
// it to the input's steps (labels repeated, blanks between), for unsegmented sequences
// (speech, handwriting). log_probs (T, N, C) are log-probabilities over C classes, one of
// them the blank (usually log_softmax's output); targets are (N, S_max) rows padded after
// each item's labels, or all the labels concatenated (1-D); input_lengths and
// target_lengths give each item's steps (1 .. T) and labels. Unbatched: (T, C) with one
// target row. An item whose labels cannot fit its steps has loss inf (0 with
// zero_infinity) and no gradient. mean divides each loss by its target length (at least
// 1), then averages over the batch, as PyTorch's. The gradient is the true one of
// log_probs (torch's adds exp(log_probs), which cancels only through a log_softmax before
// it).
Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets,
                const std::vector<std::int64_t>& input_lengths,
                const std::vector<std::int64_t>& target_lengths, std::int64_t blank = 0,
                Reduction reduction = Reduction::mean, bool zero_infinity = false);

// Margin and embedding losses (targets y are 1 or -1):
// max(0, -y (x1 - x2) + margin): x1 should rank above x2 where y = 1, below where y = -1
// (torch's margin_ranking_loss; the three have the same number of dimensions and broadcast).
Tensor margin_ranking_loss(const Tensor& input1, const Tensor& input2, const Tensor& target,
                           double margin = 0.0, Reduction reduction = Reduction::mean);
// x where y = 1, max(0, margin - x) where y = -1 (torch's hinge_embedding_loss; x is
// typically a distance).
Tensor hinge_embedding_loss(const Tensor& input, const Tensor& target, double margin = 1.0,
                            Reduction reduction = Reduction::mean);
// log(1 + e^(-y x)), computed as softplus(-y x) (torch's soft_margin_loss).
Tensor soft_margin_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// Rows x1, x2 (N, D) (or single vectors (D) with a 0-d target) of cosine c =
// x1 . x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)): 1 - c where y = 1, max(0, c - margin)
// where y = -1 (torch's cosine_embedding_loss).
Tensor cosine_embedding_loss(const Tensor& input1, const Tensor& input2, const Tensor& target,
                             double margin = 0.0, Reduction reduction = Reduction::mean);
// max(0, d(a, p) - d(a, n) + margin) with d = pairwise_distance(., ., p, eps), the anchor
// to be nearer its positive than its negative by the margin (torch's triplet_margin_loss);
// with swap, d(a, n) is min(d(a, n), d(p, n)). Rows (N, D) or single vectors (D).
Tensor triplet_margin_loss(const Tensor& anchor, const Tensor& positive, const Tensor& negative,
                           double margin = 1.0, double p = 2.0, double eps = 1e-6, bool swap = false,
                           Reduction reduction = Reduction::mean);
// Class margins for scores x (N, C) (or (C)), as torch's:
// multi_margin_loss: one class y per row (int64/int32), the row's loss
// sum over j != y of w[y] max(0, margin - x[y] + x[j])^p / C, p = 1 or 2, w = weight (C) or 1.
Tensor multi_margin_loss(const Tensor& input, const Tensor& target, std::int64_t p = 1, double margin = 1.0,
                         const Tensor& weight = Tensor(), Reduction reduction = Reduction::mean);
// multilabel_margin_loss: target of x's shape lists each row's classes, ended by the first
// -1 (what follows it is ignored); the row's loss is the sum over its classes j and the
// others k of max(0, 1 - (x[j] - x[k])) / C. An (N, C, C) block of pairs is formed.
Tensor multilabel_margin_loss(const Tensor& input, const Tensor& target,
                              Reduction reduction = Reduction::mean);
// The p-norm of x1 - x2 + eps along the last dimension (torch's pairwise_distance;
// broadcasting; eps keeps the gradient finite where the rows are equal).
Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p = 2.0, double eps = 1e-6,
                         bool keepdim = false);

}  // namespace kiln
