// scaled_dot_product_attention with its attention weights, for the layers that report them.
#pragma once

#include <optional>

#include "kiln/core/tensor.hpp"

namespace kiln::detail {

struct AttentionResult {
  Tensor output;   // (..., L, Ev)
  Tensor weights;  // (..., L, S): each query's softmax over the keys, after dropout
};

// scaled_dot_product_attention's checks and computation, keeping the weights.
AttentionResult attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor& attn_mask, double dropout_p, bool is_causal,
                                       std::optional<double> scale);

}  // namespace kiln::detail
