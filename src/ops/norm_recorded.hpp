// Internal: the normalisations' input gradient in recorded ops, for a backward pass that
// records (create_graph). The CPU's layer_norm, rms_norm and group_norm (layer_norm.cpp) and
// batch_norm on either device (nn_ops.cpp) take it instead of their fused kernels then.
#pragma once

#include "kiln/core/tensor.hpp"
#include "kiln/ops/reduce.hpp"

namespace kiln::detail {

struct RecordedNorm {
  Tensor dx;    // the input's gradient
  Tensor xhat;  // the normalised input: the weight's gradient is the sum of g xhat
};

// x normalised over `dims`, its statistics recomputed from x so that they are functions of
// it: xhat = (x - mean) rstd with rstd = 1 / sqrt(var + eps) (centred), or x rstd with rstd =
// 1 / sqrt(mean(x^2) + eps). gw is the output's gradient times the weight. Then
//   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))
// (means over `dims`; uncentred, the mean(gw) term goes).
RecordedNorm normalization_recorded_grad(const Tensor& x, const Tensor& gw, const Dims& dims, double eps,
                                         bool centre);

// The shape that views a per-channel vector of c values against an input of `rank`
// dimensions laid out (N, C, ...): (1, c, 1, ...).
Shape channel_view_shape(std::int64_t rank, std::int64_t c);

}  // namespace kiln::detail
