// Shape and indexing ops as free functions (the view methods live on Tensor).
#pragma once

#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

// Rows (or slices along `dim`) picked by a 1-D int64/int32 index tensor. Differentiable in x.
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
// out[i][j] = x[i][index[i][j]] for dim = 1 (torch.gather). Differentiable in x.
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);
// Joins tensors along an existing / a new dimension. Differentiable.
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);

}  // namespace kiln
