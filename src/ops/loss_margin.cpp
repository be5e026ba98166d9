// Margin and embedding losses, for ranking and metric learning: margin_ranking_loss,
// hinge_embedding_loss, soft_margin_loss, cosine_embedding_loss, triplet_margin_loss,
// and pairwise_distance; and the class-margin losses multi_margin_loss and
// multilabel_margin_loss. Composites of elementwise ops and reductions, so each runs,
// and goes backward, on either device. Hinges are clamps at 0 (gradient 1 at the
// hinge itself, as PyTorch's clamp_min).
#include <limits>
#include <vector>

#include "kiln/core/factories.hpp"

#include "kiln/ops/activation.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/loss.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
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

// ---- Class margins --------------------------------------------------------------------
// The hinges here are relu's (gradient 0 at the hinge itself, as PyTorch's kernels, which
// count a term only where it is positive).

namespace {

// input (N, C) or (C) and its rows as (N, C); the class-index targets read on the host, each
// in [lowest, C).
std::vector<std::int64_t> class_targets(const char* op, const Tensor& input, const Tensor& target,
                                        std::int64_t lowest) {
  const std::int64_t classes = input.size(-1);
  KILN_CHECK(target.dtype() == kInt64 || target.dtype() == kInt32, op,
             ": targets must be int64 or int32, got ", dtype_name(target.dtype()));
  std::vector<std::int64_t> t =
      target.detach().to(Device::cpu()).to(kInt64).contiguous().to_vector<std::int64_t>();
  for (const std::int64_t c : t)
    KILN_CHECK(c >= lowest && c < classes, op, ": target ", c, " is not in ", lowest, " .. ", classes - 1,
               " (input of shape ", fmt(input.shape()), ")");
  return t;
}

}  // namespace

Tensor multi_margin_loss(const Tensor& input, const Tensor& target, std::int64_t p, double margin,
                         const Tensor& weight, Reduction reduction) {
  constexpr const char* op = "multi_margin_loss";
  detail::check_floating(op, input);
  KILN_CHECK(p == 1 || p == 2, op, ": p = ", p, " must be 1 or 2");
  KILN_CHECK((input.dim() == 2 && target.dim() == 1 && target.size(0) == input.size(0)) ||
                 (input.dim() == 1 && target.dim() <= 1 && target.numel() == 1),
             op, ": input of shape ", fmt(input.shape()), " with targets of shape ", fmt(target.shape()),
             "; give scores (N, C) with one class per row (N), or (C) with one class");
  KILN_CHECK(input.size(-1) >= 1, op, ": input of shape ", fmt(input.shape()), " has no classes");
  KILN_CHECK(!weight.defined() || (weight.dim() == 1 && weight.size(0) == input.size(-1)), op,
             ": weight of shape ", fmt(weight.shape()), " must hold one value per class, ", input.size(-1));
  const std::vector<std::int64_t> classes = class_targets(op, input, target, 0);
  const Tensor x = input.dim() == 1 ? input.unsqueeze(0) : input;
  const std::int64_t rows = x.size(0), c = x.size(1);
  const Tensor index = from_vector(classes, {rows, 1}).to(x.device());
  // max(0, margin - x[y] + x[j]) over the classes j != y, squared for p = 2, times w[y].
  Tensor terms = relu(x - gather(x, 1, index) + margin);
  if (p == 2) terms = terms * terms;
  if (weight.defined()) terms = terms * index_select(weight, 0, index.reshape({rows})).unsqueeze(1);
  terms = terms * (1.0 - one_hot(index.reshape({rows}), c).to(x.dtype()));
  Tensor losses = sum(terms, {1}) / static_cast<double>(c);
  if (input.dim() == 1) losses = losses.squeeze(0);
  return reduce_loss(losses, reduction);
}

Tensor multilabel_margin_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  constexpr const char* op = "multilabel_margin_loss";
  detail::check_floating(op, input);
  KILN_CHECK(input.dim() == 1 || input.dim() == 2, op, ": input of shape ", fmt(input.shape()),
             " must be (N, C) or (C)");
  detail::check_same_shape(op, input, target);
  const std::vector<std::int64_t> listed = class_targets(op, input, target, -1);
  const Tensor x = input.dim() == 1 ? input.unsqueeze(0) : input;
  const std::int64_t rows = x.size(0), c = x.size(1);
  // Row n's targets are its entries up to the first -1. `times` counts each class among
  // them (a class listed twice counts twice, as in PyTorch); `other` marks the rest.
  std::vector<double> times(static_cast<std::size_t>(rows * c), 0.0), other(times.size(), 1.0);
  for (std::int64_t n = 0; n < rows; ++n)
    for (std::int64_t k = 0; k < c; ++k) {
      const std::int64_t cls = listed[static_cast<std::size_t>(n * c + k)];
      if (cls < 0) break;
      times[static_cast<std::size_t>(n * c + cls)] += 1.0;
      other[static_cast<std::size_t>(n * c + cls)] = 0.0;
    }
  const auto to_x = [&](const std::vector<double>& v, const Shape& shape) {
    return from_vector(v, shape).to(x.dtype()).to(x.device());
  };
  // Every pair (target j, non-target k): max(0, 1 - (x[j] - x[k])), as an (N, C, C) block.
  const Tensor pairs =
      relu(1.0 - x.unsqueeze(2) + x.unsqueeze(1)) * to_x(times, {rows, c, 1}) * to_x(other, {rows, 1, c});
  Tensor losses = sum(pairs, {1, 2}) / static_cast<double>(c);
  if (input.dim() == 1) losses = losses.squeeze(0);
  return reduce_loss(losses, reduction);
}

}  // namespace kiln
