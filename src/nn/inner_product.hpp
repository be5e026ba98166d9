// Internal: the inner-product decoder on the CPU, fused (inner_product.cpp).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// logit_k = z[src_k] . z[dst_k] for z (N, D) float32 / float64 on the CPU, with its
// gradient with respect to z; src and dst are checked 1-D index tensors of equal length.
Tensor inner_product_logits_cpu(const Tensor& z, const Tensor& src, const Tensor& dst);

}  // namespace kiln::detail
