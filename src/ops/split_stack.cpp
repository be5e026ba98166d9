// NumPy-style splitting and stacking (kiln/ops/shape_ops.hpp): tensor_split and
// h/v/dsplit (views), hstack / vstack / dstack / column_stack (cat of views), atleast_1d
// / 2d / 3d, unflatten and swapaxes (views). All differentiable through the views and
// cat, on either device.
#include <algorithm>
#include <vector>

#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// Views x[b(i-1) : b(i)] along `dim` as Python slices, for the boundaries with 0 before
// them and the size after (each wrapped and clamped into [0, size]; a part whose end
// comes before its start is empty).
std::vector<Tensor> parts_between(const Tensor& x, std::int64_t dim,
                                  const std::vector<std::int64_t>& bounds) {
  const std::int64_t n = x.size(dim);
  const auto place = [n](std::int64_t b) { return std::clamp<std::int64_t>(b < 0 ? b + n : b, 0, n); };
  std::vector<Tensor> parts;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    const std::int64_t start = i == 0 ? 0 : place(bounds[i - 1]);
    const std::int64_t end = i < bounds.size() ? place(bounds[i]) : n;
    parts.push_back(x.narrow(dim, start, std::max<std::int64_t>(end - start, 0)));
  }
  return parts;
}

std::vector<Tensor> split_along(const char* op, const Tensor& x, std::int64_t sections, std::int64_t dim) {
  KILN_CHECK(sections >= 1 && x.size(dim) % sections == 0, op, ": dimension ", dim, " of shape ",
             fmt(x.shape()), " does not split into ", sections,
             " equal parts; use tensor_split for unequal ones");
  return tensor_split(x, sections, dim);
}

std::int64_t split_dim(const char* op, const Tensor& x, std::int64_t least_rank, std::int64_t dim) {
  KILN_CHECK(x.dim() >= least_rank, op, ": needs a tensor with at least ", least_rank,
             " dimensions, not one of shape ", fmt(x.shape()));
  return dim;
}

std::vector<Tensor> each(const std::vector<Tensor>& tensors, Tensor (*f)(const Tensor&)) {
  std::vector<Tensor> out;
  out.reserve(tensors.size());
  for (const Tensor& t : tensors) out.push_back(f(t));
  return out;
}

}  // namespace

std::vector<Tensor> tensor_split(const Tensor& x, std::int64_t sections, std::int64_t dim_in) {
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "tensor_split");
  KILN_CHECK(sections >= 1, "tensor_split: sections = ", sections, " must be >= 1");
  // The first size % sections parts one longer than the rest.
  const std::int64_t n = x.size(dim), small = n / sections, longer = n % sections;
  std::vector<std::int64_t> bounds;
  for (std::int64_t i = 1, at = 0; i < sections; ++i) bounds.push_back(at += small + (i <= longer ? 1 : 0));
  return parts_between(x, dim, bounds);
}

std::vector<Tensor> tensor_split(const Tensor& x, const std::vector<std::int64_t>& indices,
                                 std::int64_t dim_in) {
  return parts_between(x, wrap_dim(dim_in, x.dim(), "tensor_split"), indices);
}

std::vector<Tensor> hsplit(const Tensor& x, std::int64_t sections) {
  return split_along("hsplit", x, sections, split_dim("hsplit", x, 1, x.dim() == 1 ? 0 : 1));
}
std::vector<Tensor> vsplit(const Tensor& x, std::int64_t sections) {
  return split_along("vsplit", x, sections, split_dim("vsplit", x, 2, 0));
}
std::vector<Tensor> dsplit(const Tensor& x, std::int64_t sections) {
  return split_along("dsplit", x, sections, split_dim("dsplit", x, 3, 2));
}

Tensor atleast_1d(const Tensor& x) { return x.dim() >= 1 ? x : x.reshape({1}); }
Tensor atleast_2d(const Tensor& x) {
  if (x.dim() >= 2) return x;
  return x.dim() == 1 ? x.unsqueeze(0) : x.reshape({1, 1});
}
Tensor atleast_3d(const Tensor& x) {
  switch (x.dim()) {
    case 0:
      return x.reshape({1, 1, 1});
    case 1:
      return x.unsqueeze(0).unsqueeze(2);
    case 2:
      return x.unsqueeze(2);
    default:
      return x;
  }
}

Tensor hstack(const std::vector<Tensor>& tensors) {
  KILN_CHECK(!tensors.empty(), "hstack: needs at least one tensor");
  const std::vector<Tensor> parts = each(tensors, atleast_1d);
  return cat(parts, parts.front().dim() == 1 ? 0 : 1);
}
Tensor vstack(const std::vector<Tensor>& tensors) {
  KILN_CHECK(!tensors.empty(), "vstack: needs at least one tensor");
  return cat(each(tensors, atleast_2d), 0);
}
Tensor dstack(const std::vector<Tensor>& tensors) {
  KILN_CHECK(!tensors.empty(), "dstack: needs at least one tensor");
  return cat(each(tensors, atleast_3d), 2);
}
Tensor column_stack(const std::vector<Tensor>& tensors) {
  KILN_CHECK(!tensors.empty(), "column_stack: needs at least one tensor");
  std::vector<Tensor> columns;
  for (const Tensor& t : tensors) columns.push_back(t.dim() <= 1 ? t.reshape({t.numel(), 1}) : t);
  return cat(columns, 1);
}

Tensor unflatten(const Tensor& x, std::int64_t dim_in, const std::vector<std::int64_t>& sizes) {
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "unflatten");
  KILN_CHECK(!sizes.empty(), "unflatten: give at least one size for dimension ", dim);
  Shape shape(x.shape().begin(), x.shape().begin() + dim);
  shape.insert(shape.end(), sizes.begin(), sizes.end());
  shape.insert(shape.end(), x.shape().begin() + dim + 1, x.shape().end());
  std::int64_t known = 1, unknown = 0;
  for (std::int64_t s : sizes) s == -1 ? ++unknown : known *= s;
  KILN_CHECK(unknown <= 1 &&
                 std::all_of(sizes.begin(), sizes.end(), [](std::int64_t s) { return s >= -1; }) &&
                 (unknown == 1 ? known > 0 && x.size(dim) % known == 0 : known == x.size(dim)),
             "unflatten: sizes ", fmt(Shape(sizes)), " do not multiply to dimension ", dim, " of shape ",
             fmt(x.shape()), " (", x.size(dim), "; at most one size may be -1)");
  return x.reshape(shape);
}

Tensor swapaxes(const Tensor& x, std::int64_t axis0, std::int64_t axis1) { return x.transpose(axis0, axis1); }
Tensor swapdims(const Tensor& x, std::int64_t dim0, std::int64_t dim1) { return x.transpose(dim0, dim1); }

}  // namespace kiln
