// Margin and embedding losses, for ranking and metric learning: margin_ranking_loss,
// hinge_embedding_loss, soft_margin_loss, cosine_embedding_loss, triplet_margin_loss,
// and pairwise_distance. Composites of elementwise ops and reductions, so each runs,
// and goes backward, on either device. Hinges are clamps at 0 (gradient 1 at the
// hinge itself, as PyTorch's clamp_min).
#include <limits>

#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/loss.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/loss_reduction.hpp"

namespace kiln {

using detail::reduce_loss;

namespace {

Tensor hinge(const Tensor& x) { return clamp(x, 0.0, std::numeric_limits<double>::infinity()); }

void check_same_dims(const char* op, std::initializer_list<Tensor> tensors) {
  const Tensor& first = *tensors.begin();
  for (const Tensor& t : tensors)
    KILN_CHECK(t.dim() == first.dim(), op, ": inputs of shapes ", fmt(first.shape()), " and ", fmt(t.shape()),
               " must have the same number of dimensions");
}

}  // namespace

Tensor margin_ranking_loss(const Tensor& input1, const Tensor& input2, const Tensor& target, double margin,
                           Reduction reduction) {
  check_same_dims("margin_ranking_loss", {input1, input2, target});
  detail::check_floating("margin_ranking_loss", input1);
  return reduce_loss(hinge(-target * (input1 - input2) + margin), reduction);
}

Tensor hinge_embedding_loss(const Tensor& input, const Tensor& target, double margin, Reduction reduction) {
  detail::check_floating("hinge_embedding_loss", input);
  // PyTorch's two parts: the hinge where y != 1, x itself where y != -1.
  const Tensor below = where(target != 1.0, hinge(margin - input), 0.0);
  const Tensor itself = where(target != -1.0, input, 0.0);
  return reduce_loss(below + itself, reduction);
}

Tensor soft_margin_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  detail::check_same_shape("soft_margin_loss", input, target);
  detail::check_floating("soft_margin_loss", input);
  return reduce_loss(softplus(-target * input), reduction);
}

Tensor cosine_embedding_loss(const Tensor& input1, const Tensor& input2, const Tensor& target, double margin,
                             Reduction reduction) {
  constexpr const char* op = "cosine_embedding_loss";
  KILN_CHECK(target.dim() <= 1 && input1.dim() == target.dim() + 1 && input2.dim() == input1.dim(), op,
             ": inputs of shapes ", fmt(input1.shape()), " and ", fmt(input2.shape()),
             " with targets of shape ", fmt(target.shape()),
             "; give rows (N, D) with targets (N), or vectors (D) with a 0-d target");
  detail::check_floating(op, input1);
  constexpr double eps = 1e-12;  // PyTorch's, added to each squared length
  const std::int64_t d = input1.dim() - 1;
  const Tensor dot = sum(input1 * input2, {d});
  const Tensor lengths = sqrt((sum(input1 * input1, {d}) + eps) * (sum(input2 * input2, {d}) + eps));
  const Tensor cos = dot / lengths;
  const Tensor similar = where(target == 1.0, 1.0 - cos, 0.0);
  const Tensor dissimilar = where(target == -1.0, hinge(cos - margin), 0.0);
  return reduce_loss(similar + dissimilar, reduction);
}

Tensor pairwise_distance(const Tensor& x1, const Tensor& x2, double p, double eps, bool keepdim) {
  KILN_CHECK(x1.dim() >= 1 || x2.dim() >= 1, "pairwise_distance: inputs of shapes ", fmt(x1.shape()), " and ",
             fmt(x2.shape()), " have no dimension to measure along");
  return norm(x1 - x2 + eps, p, {-1}, keepdim);
}

Tensor triplet_margin_loss(const Tensor& anchor, const Tensor& positive, const Tensor& negative,
                           double margin, double p, double eps, bool swap, Reduction reduction) {
  constexpr const char* op = "triplet_margin_loss";
  check_same_dims(op, {anchor, positive, negative});
  KILN_CHECK(anchor.dim() == 1 || anchor.dim() == 2, op, ": anchor of shape ", fmt(anchor.shape()),
             "; give rows (N, D) or single vectors (D)");
  const Tensor to_positive = pairwise_distance(anchor, positive, p, eps);
  Tensor to_negative = pairwise_distance(anchor, negative, p, eps);
  if (swap) to_negative = minimum(to_negative, pairwise_distance(positive, negative, p, eps));
  return reduce_loss(hinge(to_positive - to_negative + margin), reduction);
}

}  // namespace kiln
