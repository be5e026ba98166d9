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

}  // namespace kiln
