// Out-of-place writes: a copy of x with new values in one of its views (slice_scatter,
// select_scatter, diagonal_scatter), at the places a mask marks (masked_scatter) or at
// indexed positions (index_put). The view forms are one op whose backward is the same
// write of zeros into g (for x) and the same view of g (for src), so it differentiates
// again; the others are index_copy / index_add on x's flattened rows.
#include <functional>
#include <numeric>
#include <vector>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

using ViewOf = std::function<Tensor(const Tensor&)>;

// A copy of x whose view `view_of(copy)` holds src.
Tensor write_into_view(const char* op, const Tensor& x, const Tensor& src, const ViewOf& view_of) {
  detail::check_same_dtype_device(op, {x, src});
  const Shape place = view_of(x.detach()).shape();
  KILN_CHECK(src.shape() == place, op, ": src has shape ", fmt(src.shape()), " but the part of x (shape ",
             fmt(x.shape()), ") it replaces has shape ", fmt(place), "; give src that shape");
  Tensor out = x.detach().clone();
  {
    NoGradGuard plain;
    view_of(out).copy_(src.detach());
  }
  if (should_record({x, src})) {
    // d/dx: g with the written part zeroed; d/dsrc: that part of g.
    attach_grad_fn(out, op, {x, src}, [op, view_of](const Tensor& g) {
      const Tensor part = view_of(g);
      return Grads{write_into_view(op, g, zeros_like(part), view_of), part};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

// Each index tensor's entries on the host, wrapped into [0, size) and checked.
std::vector<std::int64_t> host_index(const Tensor& index, std::int64_t size, std::int64_t dim,
                                     const Tensor& x) {
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, "index_put: index ", dim,
             " must be int64 or int32 (or one uint8 mask), but is ", index.dtype());
  std::vector<std::int64_t> v = index.to(Device::cpu()).to_vector<std::int64_t>();
  for (std::int64_t& i : v) {
    KILN_CHECK(i >= -size && i < size, "index_put: index ", i, " is out of range for dimension ", dim,
               " of size ", size, " (x of shape ", fmt(x.shape()), ")");
    if (i < 0) i += size;
  }
  return v;
}

// True when a tensor of shape `from` broadcasts to `to` (leaving `to` as it is).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const std::size_t lead = to.size() - from.size();
  for (std::size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

}  // namespace

Tensor slice_scatter(const Tensor& x, const Tensor& src, std::int64_t dim, std::optional<std::int64_t> start,
                     std::optional<std::int64_t> end, std::int64_t step) {
  const std::int64_t d = wrap_dim(dim, x.dim(), "slice_scatter");
  const std::int64_t from = start.value_or(0), to = end.value_or(x.size(d));
  KILN_CHECK(step > 0, "slice_scatter: step must be positive, got ", step);
  return write_into_view("slice_scatter", x, src,
                         [d, from, to, step](const Tensor& t) { return t.slice(d, from, to, step); });
}

Tensor select_scatter(const Tensor& x, const Tensor& src, std::int64_t dim, std::int64_t index) {
  const std::int64_t d = wrap_dim(dim, x.dim(), "select_scatter"), n = x.size(d);
  KILN_CHECK(index >= -n && index < n, "select_scatter: index ", index, " is out of range for dimension ", d,
             " of size ", n, " (x of shape ", fmt(x.shape()), ")");
  return write_into_view("select_scatter", x, src,
                         [d, index](const Tensor& t) { return t.select(d, index); });
}

Tensor diagonal_scatter(const Tensor& x, const Tensor& src, std::int64_t offset, std::int64_t dim1,
                        std::int64_t dim2) {
  return write_into_view("diagonal_scatter", x, src,
                         [offset, dim1, dim2](const Tensor& t) { return diagonal(t, offset, dim1, dim2); });
}

Tensor masked_scatter(const Tensor& x, const Tensor& mask, const Tensor& source) {
  KILN_CHECK(mask.dtype() == kUInt8, "masked_scatter: the mask must be uint8 (as comparisons return), not ",
             mask.dtype());
  detail::check_same_dtype_device("masked_scatter", {x, source});
  KILN_CHECK(mask.device() == x.device(), "masked_scatter: the mask is on ", mask.device(), " but x on ",
             x.device(), "; move one of them");
  KILN_CHECK(broadcasts_to(mask.shape(), x.shape()), "masked_scatter: mask of shape ", fmt(mask.shape()),
             " must broadcast to x's shape ", fmt(x.shape()));
  const Tensor places = nonzero(mask.expand(x.shape()).reshape({-1})).reshape({-1});
  const std::int64_t count = places.numel();
  KILN_CHECK(source.numel() >= count, "masked_scatter: the mask marks ", count, " places but source (shape ",
             fmt(source.shape()), ") holds only ", source.numel(), " values");
  return index_copy(x.reshape({-1}), 0, places, source.reshape({-1}).narrow(0, 0, count)).reshape(x.shape());
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices_in, const Tensor& values,
                 bool accumulate) {
  const char* op = "index_put";
  detail::check_same_dtype_device(op, {x, values});
  std::vector<Tensor> indices = indices_in;
  if (indices.size() == 1 && indices[0].dtype() == kUInt8) {  // x[mask] = values: the mask's positions
    const Tensor& mask = indices[0];
    KILN_CHECK(mask.dim() >= 1 && mask.dim() <= x.dim() &&
                   Shape(x.shape().begin(), x.shape().begin() + mask.dim()) == mask.shape(),
               "index_put: a mask of shape ", fmt(mask.shape()),
               " must match x's leading dimensions (x of shape ", fmt(x.shape()), ")");
    const Tensor positions = nonzero(mask);
    indices.clear();
    for (std::int64_t d = 0; d < mask.dim(); ++d) indices.push_back(positions.select(1, d));
  }
  const auto k = static_cast<std::int64_t>(indices.size());
  KILN_CHECK(k >= 1 && k <= x.dim(), "index_put: ", k, " index tensors for x of shape ", fmt(x.shape()),
             "; give one per leading dimension, at least one and at most ", x.dim());
  Shape together = indices[0].shape();
  for (const Tensor& index : indices) together = broadcast_shapes(together, index.shape(), op);
  const std::int64_t n = numel_of(together);
  // Each entry's row of x viewed as (x.size(0) ... x.size(k - 1), rest): the indices
  // broadcast together, weighted by the row strides of the leading dimensions.
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n), 0);
  for (std::int64_t d = 0; d < k; ++d) {
    const std::vector<std::int64_t> v =
        host_index(indices[static_cast<std::size_t>(d)].expand(together).contiguous(), x.size(d), d, x);
    for (std::int64_t i = 0; i < n; ++i)
      rows[static_cast<std::size_t>(i)] =
          rows[static_cast<std::size_t>(i)] * x.size(d) + v[static_cast<std::size_t>(i)];
  }
  const Shape rest(x.shape().begin() + k, x.shape().end());
  Shape placed = together, as_rows{n};
  placed.insert(placed.end(), rest.begin(), rest.end());
  as_rows.insert(as_rows.end(), rest.begin(), rest.end());
  KILN_CHECK(broadcasts_to(values.shape(), placed), "index_put: values of shape ", fmt(values.shape()),
             " must broadcast to ", fmt(placed),
             " (the indices' broadcast shape, then x's dimensions past the indexed ones)");
  Shape x_rows{numel_of(Shape(x.shape().begin(), x.shape().begin() + k))};
  x_rows.insert(x_rows.end(), rest.begin(), rest.end());
  const Tensor where_to = from_vector(rows).to(x.device());
  const Tensor what = values.expand(placed).reshape(as_rows);
  const Tensor flat = x.reshape(x_rows);
  return (accumulate ? index_add(flat, 0, where_to, what) : index_copy(flat, 0, where_to, what))
      .reshape(x.shape());
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, double value, bool accumulate) {
  return index_put(x, indices, scalar_tensor(value, x.dtype(), x.device()), accumulate);
}

}  // namespace kiln
