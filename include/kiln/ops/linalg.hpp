// Matrix products, backed by BLAS (OpenBLAS, or Eigen when built without it).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

// matmul follows numpy.matmul / torch.matmul:
//   1-D x 1-D -> dot product (0-d); 2-D x 2-D -> matrix product;
//   1-D arguments gain a dimension that is removed again afterwards;
//   N-D arguments are batches of matrices whose batch dimensions broadcast.
// float32 and float64 only. Transposed views are passed to BLAS without copies.
Tensor matmul(const Tensor& a, const Tensor& b);

// The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M),
// (..., P, R), batch dimensions broadcast (torch.cdist, p >= 1 or infinity). As PyTorch's
// default: for p = 2 with more than 25 rows on either side, through a matrix product,
// sqrt(max(|a|^2 + |b|^2 - 2 a.b, 1e-30)) (fast; rounding loses digits for points much
// nearer each other than to 0); otherwise the norm of each difference (exact, P R M
// memory). Differentiable in both; the gradient at a distance of 0 is 0.
Tensor cdist(const Tensor& x1, const Tensor& x2, double p = 2.0);

}  // namespace kiln
