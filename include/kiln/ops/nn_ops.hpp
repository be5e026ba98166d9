// Functional building blocks of neural-network layers (kiln/nn/ wraps them in Modules).
#pragma once

#include <optional>

#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// y = x W^T + b, with W (out, in) as in PyTorch; x (..., in) -> y (..., out).
// `bias` may be undefined. One GEMM forward, two backward.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// y[.., o] = x1[.., :] W[o] x2[.., :]^T + b[o] (torch.nn.functional.bilinear): x1 (..., in1),
// x2 (..., in2) with the same leading shape, W (out, in1, in2), bias (out) or undefined.
// One GEMM (x1 by W laid out as (in1, out in2)), then a product with x2 summed.
Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias = Tensor());

// Zeroes each element with probability p and scales the rest by 1/(1-p) (training only).
Tensor dropout(const Tensor& x, double p, bool training);

// Channel dropout (torch.nn.functional.dropout1d / dropout2d / dropout3d), for
// convolutional features whose neighbours are correlated: in training each channel of
// each sample is zeroed as a whole with probability p, the kept ones scaled by 1/(1-p).
// Input (N, C, *) or unbatched (C, *), * being 1, 2 or 3 dimensions (L; H, W; D, H, W).
Tensor dropout1d(const Tensor& x, double p, bool training);
Tensor dropout2d(const Tensor& x, double p, bool training);
Tensor dropout3d(const Tensor& x, double p, bool training);
// Alpha dropout (Klambauer et al. 2017; torch's alpha_dropout), for self-normalising
// networks (selu): a dropped entry takes selu's negative limit -1.7581 instead of 0, then
// all are mapped by a x + b with a = ((1 - p)(1 + 1.7581^2 p))^(-1/2), so that inputs
// of mean 0 and variance 1 keep them. feature_alpha_dropout drops whole channels of
// (N, C, *) that way. Both are the identity outside training.
Tensor alpha_dropout(const Tensor& x, double p, bool training);
Tensor feature_alpha_dropout(const Tensor& x, double p, bool training);

// Rows of `weight` (num, dim) picked by integer `indices` of any shape -> indices.shape + (dim).
// With padding_idx (negative counts from the end, as PyTorch's), the positions that pick
// that row send no gradient to it: a padding token's vector stays as it is in training.
Tensor embedding(const Tensor& weight, const Tensor& indices,
                 std::optional<std::int64_t> padding_idx = std::nullopt);
// Bags of rows of the table `weight` (num, dim) reduced to one vector each
// (torch.nn.functional.embedding_bag): a 2-D input (bags, n) holds one bag per row; a 1-D
// input is cut into bags at `offsets` (each bag's first position, starting at 0; with
// include_last_offset the last offset ends the last bag). mode sum (each row times its
// per_sample_weight where given), mean, or max (elementwise over the bag). An empty bag
// gives zeros; entries equal to padding_idx are left out (and not counted by mean).
// Out: (bags, dim). Differentiable in the weight and the per-sample weights; the indices
// and offsets are read on the host (a GPU input once).
enum class EmbeddingBagMode { sum, mean, max };
const char* embedding_bag_mode_name(EmbeddingBagMode mode);  // "sum", "mean", "max"
Tensor embedding_bag(const Tensor& weight, const Tensor& input, const Tensor& offsets = Tensor(),
                     EmbeddingBagMode mode = EmbeddingBagMode::mean,
                     const Tensor& per_sample_weights = Tensor(), bool include_last_offset = false,
                     std::optional<std::int64_t> padding_idx = std::nullopt);

// Batch normalisation over (N, C) or (N, C, ...): statistics per channel C.
// Training: normalises by the batch's mean and biased variance and, when the running
// tensors are defined, updates them in place with `momentum` (unbiased variance).
// Evaluation: normalises by the running statistics. weight/bias may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

// Layer normalisation (Ba et al. 2016) over the trailing dimensions `normalized_shape`
// of x: each row of those dimensions becomes (x - mean) / sqrt(var + eps) with its own
// mean and biased variance, then times weight and plus bias (both of shape
// normalized_shape, either may be undefined), element by element. x (..., 64) with
// normalized_shape (64) normalises every feature vector; the same in training and
// evaluation (no running statistics).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// Root-mean-square normalisation (Zhang & Sennrich 2019; torch.nn.functional.rms_norm):
// each row of the trailing dimensions `normalized_shape` divided by its root mean square,
// x / sqrt(mean(x^2) + eps), then times weight (normalized_shape, or undefined). No
// centring and no bias: the cheaper normalisation of many transformers. eps defaults to
// the dtype's machine epsilon, as torch's eps=None.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                std::optional<double> eps = std::nullopt);

// Local response normalisation across channels (Krizhevsky et al. 2012; torch's
// local_response_norm): x (N, C, ...) divided by (k + alpha / size * the sum of x^2 over
// `size` neighbouring channels)^beta, the window centred on the channel (size / 2
// before, (size - 1) / 2 after), zeros beyond the first and last channel.
Tensor local_response_norm(const Tensor& x, std::int64_t size, double alpha = 1e-4, double beta = 0.75,
                           double k = 1.0);

// Group normalisation (Wu & He 2018): the C channels of x (N, C, ...) split into
// num_groups groups of consecutive channels, and each sample's group is normalised over
// all its channels' values by its own mean and biased variance, then each channel times
// weight[c] plus bias[c] (shape (C), either may be undefined). The same in training and
// evaluation, and independent of the batch: for small batches where batch norm's
// statistics are noisy. num_groups = 1 normalises each sample as a whole; num_groups = C
// normalises each channel of each sample (instance norm).
Tensor group_norm(const Tensor& x, std::int64_t num_groups, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);

// Instance normalisation (Ulyanov et al. 2016; torch.nn.functional.instance_norm): each
// (sample, channel) plane of x (N, C, ...) normalised by its own mean and biased
// variance, then times weight[c] plus bias[c] (either may be undefined). With running
// tensors (C) and use_input_stats, they are updated (momentum) with the planes'
// statistics averaged over the samples (unbiased variance); without use_input_stats the
// running statistics normalise instead (evaluation). Runs as batch_norm over x viewed as
// one sample of N C channels, so on the same kernels and either device.
Tensor instance_norm(const Tensor& x, const Tensor& running_mean = Tensor(),
                     const Tensor& running_var = Tensor(), const Tensor& weight = Tensor(),
                     const Tensor& bias = Tensor(), bool use_input_stats = true, double momentum = 0.1,
                     double eps = 1e-5);

}  // namespace kiln
