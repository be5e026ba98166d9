// Local response normalisation: a composite of products, shifted sums and pow, so it
// runs, and goes backward, wherever those do.
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

Tensor local_response_norm(const Tensor& x, std::int64_t size, double alpha, double beta, double k) {
  detail::check_floating("local_response_norm", x);
  KILN_CHECK(x.dim() >= 3,
             "local_response_norm: input must be (N, C, ...) with at least one dimension after C, ",
             "but has shape ", fmt(x.shape()));
  KILN_CHECK(size >= 1, "local_response_norm: size must be >= 1, got ", size);
  const std::int64_t c = x.size(1), before = size / 2, after = (size - 1) / 2;
  // x^2 with zero channels on both sides, then the sum of `size` consecutive channels as
  // the sum of `size` shifted views.
  const Tensor squares = x * x;
  const auto zero_channels = [&](std::int64_t count) {
    Shape shape = x.shape();
    shape[1] = count;
    return zeros(shape, x.dtype(), x.device());
  };
  std::vector<Tensor> parts;
  if (before > 0) parts.push_back(zero_channels(before));
  parts.push_back(squares);
  if (after > 0) parts.push_back(zero_channels(after));
  const Tensor padded = parts.size() == 1 ? squares : cat(parts, 1);
  Tensor window = padded.narrow(1, 0, c);
  for (std::int64_t i = 1; i < size; ++i) window = window + padded.narrow(1, i, c);
  return x / pow(window * (alpha / static_cast<double>(size)) + k, beta);
}

}  // namespace kiln
