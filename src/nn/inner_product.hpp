// Internal: the inner-product decoder on the CPU, fused (inner_product.cpp), and the
// check of its node numbers that the GPU version (vae_cuda.cpp) shares for host indices.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln::detail {

// logit_k = z[src_k] . z[dst_k] for z (N, D) float32 / float64 on the CPU, with its
// gradient with respect to z; src and dst are checked 1-D index tensors of equal length.
Tensor inner_product_logits_cpu(const Tensor& z, const Tensor& src, const Tensor& dst);

// The entries of `index` (int64 or int32, `which` of the decoder's two: "src" or "dst")
// as node numbers of z in [0, N), negative ones counted from the end; any other is an Error.
std::vector<std::int64_t> pair_node_numbers(const Tensor& index, const char* which, const Tensor& z);

// The logits' gradient in z as recorded ops, for a walk that records (create_graph): g_k
// z[t_k] added at row s_k and g_k z[s_k] at row t_k (index_select, mul, index_add), so it
// differentiates again. s and t: int64 node numbers on z's device (negative ones from the end).
Tensor inner_product_recorded_grad(const Tensor& z, const Tensor& s, const Tensor& t, const Tensor& g);

}  // namespace kiln::detail
