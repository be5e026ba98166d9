// View ops: new shape/strides/offset over the same storage. Each is
// differentiable: its backward maps the gradient back to the input's shape.
#include <algorithm>
#include <functional>
#include <numeric>
#include <optional>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/tensor.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// A new handle over x's storage with the given geometry (no autograd).
Tensor make_view(const Tensor& x, Shape shape, Strides strides, std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = x.dtype();
  return Tensor(std::move(impl));
}

// Records a view op whose backward is `back(g)` (recorded ops on g alone: differentiable).
Tensor recorded(Tensor view, const Tensor& x, const char* name, BackwardFn back) {
  if (should_record({x})) {
    attach_grad_fn(view, name, {x}, std::move(back));
    mark_differentiable_backward(view);
  }
  return view;
}

// g written into zeros of shape `from` at the positions the view `pick` of that shape
// selects: the backward of slice and diagonal. Recorded when g requires grad (a
// create_graph walk), its own backward being the same view of the incoming gradient.
Tensor placed_in_zeros(const Tensor& g, const Shape& from, DType dtype, const char* name,
                       const std::function<Tensor(const Tensor&)>& pick) {
  Tensor gx = zeros(from, dtype, g.device());
  {
    NoGradGuard plain;
    pick(gx).copy_(g);
  }
  if (should_record({g})) {
    attach_grad_fn(gx, name, {g}, [pick](const Tensor& gg) { return Grads{pick(gg)}; });
    mark_differentiable_backward(gx);
  }
  return gx;
}

// Replaces one -1 in `shape` by the size that keeps numel; checks the total.
Shape infer_shape(const Shape& shape, std::int64_t numel, const Shape& from, const char* op) {
  Shape out = shape;
  std::int64_t infer = -1;
  for (std::size_t d = 0; d < out.size(); ++d) {
    if (out[d] == -1) {
      KILN_CHECK(infer < 0, op, ": only one dimension can be -1, got ", fmt(shape));
      infer = static_cast<std::int64_t>(d);
      out[d] = 1;  // for the count of the others
    } else {
      KILN_CHECK(out[d] >= 0, op, ": invalid size ", out[d], " in shape ", fmt(shape));
    }
  }
  const std::int64_t known = numel_of(out);  // an Error if it overflows
  if (infer >= 0) {
    KILN_CHECK(known > 0 && numel % known == 0, op, ": cannot reshape ", fmt(from), " (", numel,
               " elements) into ", fmt(shape));
    out[infer] = numel / known;
  }
  KILN_CHECK(numel_of(out) == numel, op, ": cannot reshape ", fmt(from), " (", numel, " elements) into ",
             fmt(shape), " (", numel_of(out), " elements)");
  return out;
}

// Strides that let `new_shape` view memory laid out as (shape, strides), if any.
// Walks the old dims from the back in chunks that are contiguous in memory;
// each chunk must be exactly covered by a run of new dims.
std::optional<Strides> view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape) {
  if (numel_of(shape) == 0 || shape.empty()) return contiguous_strides(new_shape);
  Strides out(new_shape.size(), 0);
  std::int64_t view_d = static_cast<std::int64_t>(new_shape.size()) - 1;
  std::int64_t chunk_stride = strides.back(), tensor_numel = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    const bool chunk_ends = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

}  // namespace

// reshape/view backward: d/dx = the gradient reshaped back.
Tensor Tensor::view(const Shape& shape_in) const {
  const Shape shape = infer_shape(shape_in, numel(), this->shape(), "view");
  const auto st = view_strides(this->shape(), strides(), shape);
  KILN_CHECK(st.has_value(), "view: shape ", fmt(this->shape()), " with strides ", fmt(strides()),
             " cannot be viewed as ", fmt(shape), " without copying; use reshape() or contiguous() first");
  return recorded(make_view(*this, shape, *st, offset()), *this, "view",
                  [from = this->shape()](const Tensor& g) { return Grads{g.reshape(from)}; });
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  const Shape shape = infer_shape(shape_in, numel(), this->shape(), "reshape");
  if (view_strides(this->shape(), strides(), shape)) return view(shape);
  return clone().view(shape);
}

Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const {
  d0 = wrap_dim(d0, dim(), "transpose");
  d1 = wrap_dim(d1, dim(), "transpose");
  if (dim() == 0)
    return recorded(make_view(*this, shape(), strides(), offset()), *this, "transpose",
                    [](const Tensor& g) { return Grads{g}; });
  Shape sh = shape();
  Strides st = strides();
  std::swap(sh[d0], sh[d1]);
  std::swap(st[d0], st[d1]);
  // d/dx transpose(x) = transpose(g)
  return recorded(make_view(*this, sh, st, offset()), *this, "transpose",
                  [d0, d1](const Tensor& g) { return Grads{g.transpose(d0, d1)}; });
}

Tensor Tensor::t() const {
  KILN_CHECK(dim() == 2, "t: expects a 2-D tensor but got shape ", fmt(shape()),
             "; use transpose(dim0, dim1) for other ranks");
  return transpose(0, 1);
}

Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  KILN_CHECK(static_cast<std::int64_t>(dims.size()) == dim(), "permute: got ", dims.size(),
             " dimensions for a tensor of shape ", fmt(shape()));
  Shape sh(dims.size());
  Strides st(dims.size());
  std::vector<std::int64_t> inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d = wrap_dim(dims[i], dim(), "permute");
    KILN_CHECK(inverse[d] < 0, "permute: dimension ", d, " appears twice in the permutation");
    inverse[d] = static_cast<std::int64_t>(i);
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  // d/dx permute(x, p) = permute(g, p^-1)
  return recorded(make_view(*this, sh, st, offset()), *this, "permute",
                  [inverse](const Tensor& g) { return Grads{g.permute(inverse)}; });
}

Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  d = wrap_existing_dim(d, dim(), "slice");
  KILN_CHECK(step > 0, "slice: step must be positive, got ", step);
  const std::int64_t n = shape()[d];
  auto clampi = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clampi(start);
  end = std::max(start, clampi(end));
  Shape sh = shape();
  Strides st = strides();
  sh[d] = (end - start + step - 1) / step;
  st[d] *= step;
  // d/dx slice(x) = g placed into zeros at the sliced positions
  return recorded(make_view(*this, sh, st, offset() + start * strides()[d]), *this, "slice",
                  [from = shape(), dtype = dtype(), d, start, end, step](const Tensor& g) {
                    return Grads{placed_in_zeros(g, from, dtype, "slice backward", [=](const Tensor& t) {
                      return t.slice(d, start, end, step);
                    })};
                  });
}

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  const std::int64_t wd = wrap_existing_dim(d, dim(), "narrow");
  KILN_CHECK(start >= 0 && length >= 0 && start + length <= shape()[wd], "narrow: range [", start, ", ",
             start + length, ") is outside dimension ", wd, " of shape ", fmt(shape()));
  return slice(wd, start, start + length);
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  d = wrap_existing_dim(d, dim(), "select");
  const std::int64_t n = shape()[d];
  KILN_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dimension ", d,
             " of size ", n, " (shape ", fmt(shape()), ")");
  if (index < 0) index += n;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& target) const {
  KILN_CHECK(target.size() >= shape().size(), "expand: cannot expand shape ", fmt(shape()),
             " to fewer dimensions ", fmt(target));
  const std::size_t lead = target.size() - shape().size();
  Shape sh = target;
  for (std::size_t d = 0; d < shape().size(); ++d) {
    if (sh[lead + d] == -1) sh[lead + d] = shape()[d];
    KILN_CHECK(shape()[d] == sh[lead + d] || shape()[d] == 1, "expand: shape ", fmt(shape()),
               " cannot be expanded to ", fmt(target), ": dimension ", d, " has size ", shape()[d],
               " (only size-1 dimensions can grow)");
  }
  for (std::int64_t s : sh)
    KILN_CHECK(s >= 0, "expand: shape ", fmt(shape()), " cannot be expanded to ", fmt(target),
               ": sizes must be >= 0 (-1 keeps an existing dimension)");
  (void)numel_of(sh);  // an Error if the count does not fit 64 bits
  if (sh == shape()) return *this;
  // d/dx expand(x) = g summed over the expanded dimensions
  return recorded(make_view(*this, sh, detail::broadcast_strides(*this, sh), offset()), *this, "expand",
                  [from = shape()](const Tensor& g) { return Grads{sum_to(g, from)}; });
}

Tensor Tensor::squeeze() const {
  Shape sh;
  for (std::int64_t s : shape())
    if (s != 1) sh.push_back(s);
  return reshape(sh);
}

Tensor Tensor::squeeze(std::int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || shape()[d] != 1) return *this;  // a 0-d tensor stays as it is, as in PyTorch
  Shape sh = shape();
  Strides st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return recorded(make_view(*this, sh, st, offset()), *this, "squeeze",
                  [from = shape()](const Tensor& g) { return Grads{g.reshape(from)}; });
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape();
  Strides st = strides();
  const std::int64_t s = d < dim() ? shape()[d] * strides()[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, s);
  return recorded(make_view(*this, sh, st, offset()), *this, "unsqueeze",
                  [from = shape()](const Tensor& g) { return Grads{g.reshape(from)}; });
}

Tensor Tensor::flatten(std::int64_t start, std::int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  KILN_CHECK(start <= end, "flatten: start_dim ", start, " is after end_dim ", end);
  Shape sh(shape().begin(), shape().begin() + start);
  std::int64_t n = 1;
  for (std::int64_t d = start; d <= end; ++d) n *= shape()[d];
  sh.push_back(n);
  sh.insert(sh.end(), shape().begin() + end + 1, shape().end());
  return reshape(sh);
}

Tensor diagonal(const Tensor& x, std::int64_t offset, std::int64_t dim1_in, std::int64_t dim2_in) {
  KILN_CHECK(x.dim() >= 2, "diagonal: needs a tensor of at least 2 dimensions, got shape ", fmt(x.shape()));
  const std::int64_t d1 = wrap_existing_dim(dim1_in, x.dim(), "diagonal");
  const std::int64_t d2 = wrap_existing_dim(dim2_in, x.dim(), "diagonal");
  KILN_CHECK(d1 != d2, "diagonal: dim1 and dim2 are both dimension ", d1, " of shape ", fmt(x.shape()),
             "; name two different dimensions");
  const std::int64_t n1 = x.size(d1), n2 = x.size(d2);
  const std::int64_t length =
      std::max<std::int64_t>(0, offset >= 0 ? std::min(n1, n2 - offset) : std::min(n1 + offset, n2));
  Shape sh;
  Strides st;
  for (std::int64_t d = 0; d < x.dim(); ++d)
    if (d != d1 && d != d2) {
      sh.push_back(x.size(d));
      st.push_back(x.strides()[d]);
    }
  sh.push_back(length);
  st.push_back(x.strides()[d1] + x.strides()[d2]);
  const std::int64_t start = length == 0   ? 0
                             : offset >= 0 ? offset * x.strides()[d2]
                                           : -offset * x.strides()[d1];
  // d/dx diagonal(x) = g placed on the same diagonal of zeros
  return recorded(make_view(x, sh, st, x.offset() + start), x, "diagonal",
                  [from = x.shape(), dtype = x.dtype(), offset, d1, d2](const Tensor& g) {
                    return Grads{placed_in_zeros(g, from, dtype, "diagonal backward", [=](const Tensor& t) {
                      return diagonal(t, offset, d1, d2);
                    })};
                  });
}

// --- Splitting into views ---------------------------------------------------------

std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, std::int64_t dim_in) {
  KILN_CHECK(x.dim() >= 1, "split: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "split");
  std::int64_t total = 0;
  for (std::int64_t s : sizes) {
    KILN_CHECK(s >= 0, "split: a part's size must be at least 0, not ", s);
    total += s;
  }
  KILN_CHECK(total == x.size(dim), "split: the sizes add up to ", total, " but dimension ", dim, " of shape ",
             fmt(x.shape()), " has ", x.size(dim), "; the parts must cover it exactly");
  std::vector<Tensor> parts;
  std::int64_t start = 0;
  for (std::int64_t s : sizes) {
    parts.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t dim_in) {
  KILN_CHECK(x.dim() >= 1, "split: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "split");
  KILN_CHECK(split_size > 0, "split: split_size must be at least 1, not ", split_size);
  const std::int64_t n = x.size(dim);
  std::vector<std::int64_t> sizes;
  for (std::int64_t start = 0; start < n; start += split_size)
    sizes.push_back(std::min(split_size, n - start));
  if (n == 0) sizes.push_back(0);  // one empty part, as torch.split gives
  return split(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t dim_in) {
  KILN_CHECK(x.dim() >= 1, "chunk: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "chunk");
  KILN_CHECK(chunks >= 1, "chunk: the number of chunks must be at least 1, not ", chunks);
  const std::int64_t n = x.size(dim);
  return split(x, std::max<std::int64_t>(1, (n + chunks - 1) / chunks), dim);
}

}  // namespace kiln
