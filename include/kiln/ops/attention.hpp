// Scaled dot-product attention, as torch.nn.functional.scaled_dot_product_attention.
#pragma once

#include <optional>

#include "kiln/core/tensor.hpp"

namespace kiln {

// softmax(q kᵀ · scale + mask) v over the last two dimensions: q (..., L, E), k (..., S, E),
// v (..., S, Ev) -> (..., L, Ev), the leading (batch, head) dimensions broadcasting.
// scale defaults to 1 / sqrt(E).
//   attn_mask: undefined; a uint8 mask broadcastable to (..., L, S) whose 1s mark the keys
//     each query may attend to (PyTorch's boolean mask, True = take part); or a floating
//     mask of q's dtype added to the scores (-inf to exclude).
//   is_causal: query i attends to keys 0 .. i only (the upper triangle masked); not with
//     an attn_mask.
//   dropout_p: dropout on the attention weights, always applied when > 0 (pass 0 when not
//     training, as PyTorch's caller does).
// A query that may attend to no key at all gets NaN, as in PyTorch. Composed of matmul,
// masked_fill, softmax and dropout, so it runs and differentiates on either device.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false, std::optional<double> scale = std::nullopt);

}  // namespace kiln
