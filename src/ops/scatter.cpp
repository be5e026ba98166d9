// scatter_add: src's entries added into a copy of x at the positions an index names along
// one dimension (torch.scatter_add), as one index_add over x's flattened elements.
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

Tensor scatter_add(const Tensor& x, std::int64_t dim_in, const Tensor& index, const Tensor& src) {
  constexpr const char* op = "scatter_add";
  detail::check_floating(op, x);
  detail::check_same_dtype_device(op, {x, src});
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op, ": indices must be int64 or int32, got ",
             index.dtype());
  KILN_CHECK(x.dim() >= 1 && index.dim() == x.dim() && src.dim() == x.dim(), op, ": x of shape ",
             fmt(x.shape()), ", index of shape ", fmt(index.shape()), " and src of shape ", fmt(src.shape()),
             " need the same number of dimensions (at least one)");
  KILN_CHECK(index.device().is_cpu() || index.device() == x.device(), op, ": x on ", x.device(),
             " but the index on ", index.device(), "; move the index with .to(x.device())");
  const std::int64_t dim = dim_in < 0 ? dim_in + x.dim() : dim_in;
  KILN_CHECK(dim >= 0 && dim < x.dim(), op, ": dimension ", dim_in, " is out of range for shape ",
             fmt(x.shape()));
  const Shape& is = index.shape();
  for (std::int64_t d = 0; d < x.dim(); ++d)
    KILN_CHECK(is[d] <= src.size(d) && (d == dim || is[d] <= x.size(d)), op, ": index of shape ", fmt(is),
               " exceeds src of shape ", fmt(src.shape()), " or, outside dimension ", dim, ", x of shape ",
               fmt(x.shape()), " in dimension ", d);
  // Each index entry's place in x's row-major elements: its own coordinates, with the
  // entry's value along `dim`. The index is read on the host (a GPU index once, back).
  const std::vector<std::int64_t> values = index.to_vector<std::int64_t>();
  const Strides x_strides = contiguous_strides(x.shape());
  std::vector<std::int64_t> places(values.size());
  std::vector<std::int64_t> coord(static_cast<std::size_t>(x.dim()), 0);
  for (std::size_t k = 0; k < values.size(); ++k) {
    const std::int64_t v = values[k];
    KILN_CHECK(v >= 0 && v < x.size(dim), op, ": index ", v, " is out of range for dimension ", dim,
               " of size ", x.size(dim), " (x of shape ", fmt(x.shape()), ")");
    std::int64_t place = 0;
    for (std::int64_t d = 0; d < x.dim(); ++d) place += (d == dim ? v : coord[d]) * x_strides[d];
    places[k] = place;
    for (std::int64_t d = x.dim() - 1; d >= 0; --d) {  // the next coordinate of the index, row-major
      if (++coord[d] < is[d]) break;
      coord[d] = 0;
    }
  }
  Tensor picked = src;
  for (std::int64_t d = 0; d < src.dim(); ++d) picked = picked.narrow(d, 0, is[d]);
  Tensor where_to = from_vector(places);
  if (x.device().is_cuda()) where_to = where_to.to(x.device());
  return index_add(x.contiguous().reshape({-1}), 0, where_to, picked.reshape({-1})).reshape(x.shape());
}

}  // namespace kiln
