// Scaled dot-product attention, composed of the library's differentiable ops.
#include "kiln/ops/attention.hpp"

#include <cmath>

#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/nn_ops.hpp"
#include "kiln/ops/reduce.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/ops/attention_internal.hpp"

namespace kiln {

namespace detail {

AttentionResult attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& attn_mask, double dropout_p, bool is_causal,
                                       std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  detail::check_same_dtype_device(op, {q, k, v});
  detail::check_floating(op, q);
  KILN_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op,
             ": query, key and value need (..., length, features) ", "but have shapes ", fmt(q.shape()), ", ",
             fmt(k.shape()), " and ", fmt(v.shape()));
  KILN_CHECK(q.size(-1) == k.size(-1), op, ": query of shape ", fmt(q.shape()), " has ", q.size(-1),
             " features but key of shape ", fmt(k.shape()), " has ", k.size(-1), "; they must match");
  KILN_CHECK(k.size(-2) == v.size(-2), op, ": key of shape ", fmt(k.shape()), " has ", k.size(-2),
             " positions but value of shape ", fmt(v.shape()), " has ", v.size(-2), "; they must match");
  KILN_CHECK(dropout_p >= 0 && dropout_p <= 1, op, ": dropout_p = ", dropout_p, " must be in [0, 1]");
  KILN_CHECK(!(is_causal && attn_mask.defined()), op,
             ": is_causal and attn_mask together are ambiguous; fold the causal mask into attn_mask");
  const std::int64_t l = q.size(-2), s = k.size(-2);
  const double factor = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  Tensor scores = matmul(q, k.transpose(-2, -1)) * factor;  // (..., L, S)
  if (is_causal) {
    const Tensor allowed = tril(ones({l, s}, kUInt8, q.device()));
    scores = masked_fill(scores, !allowed, -INFINITY);
  } else if (attn_mask.defined()) {
    KILN_CHECK(attn_mask.device() == q.device(), op, ": attn_mask is on ", attn_mask.device(),
               " but the query on ", q.device(), "; move it with .to(device)");
    if (attn_mask.dtype() == kUInt8) {
      scores = masked_fill(scores, !attn_mask, -INFINITY);
    } else {
      KILN_CHECK(attn_mask.dtype() == q.dtype(), op,
                 ": attn_mask must be uint8 (1 = attend) or of the query's dtype ", q.dtype(),
                 " (added to the scores), not ", attn_mask.dtype());
      scores = scores + attn_mask;
    }
  }
  Tensor weights = softmax(scores, -1);
  if (dropout_p > 0) weights = dropout(weights, dropout_p, /*training=*/true);
  return {matmul(weights, v), weights};
}

}  // namespace detail

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale) {
  return detail::attention_with_weights(q, k, v, attn_mask, dropout_p, is_causal, scale).output;
}

}  // namespace kiln
