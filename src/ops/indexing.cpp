// index_select, index_add, gather, one_hot, flip, repeat, roll, diff, cat and stack.
#include <algorithm>
#include <cstring>
#include <string>

#include "kiln/autograd/grad_mode.hpp"
#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/strided_loop.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"
#include "src/ops/indexing.hpp"
#include "src/ops/row_scatter.hpp"

namespace kiln {

using detail::ptr;

namespace {

// Index values as int64, each checked against `limit`.
std::vector<std::int64_t> checked_indices(const Tensor& index, std::int64_t limit, const char* op,
                                          const Tensor& x, std::int64_t dim) {
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op, ": indices must be int64 or int32, got ",
             index.dtype());
  std::vector<std::int64_t> idx = index.to_vector<std::int64_t>();
  for (std::int64_t& i : idx) {
    KILN_CHECK(i >= -limit && i < limit, op, ": index ", i, " is out of range for dimension ", dim,
               " of size ", limit, " (tensor shape ", fmt(x.shape()), ")");
    if (i < 0) i += limit;
  }
  return idx;
}

// View shape (outer, size(dim), inner) of a contiguous tensor.
void split_at(const Shape& shape, std::int64_t dim, std::int64_t& outer, std::int64_t& inner) {
  outer = inner = 1;
  for (std::int64_t d = 0; d < static_cast<std::int64_t>(shape.size()); ++d) {
    if (d < dim) outer *= shape[d];
    if (d > dim) inner *= shape[d];
  }
}

// dst[o, idx[j], :] += src[o, j, :] for contiguous dst (outer, n, inner) and src
// (outer, m, inner), m = idx.size(); indices already checked, repeats add up in order
// (on any number of threads: see RowOwners).
template <class T>
void add_rows(T* dst, const T* src, const std::vector<std::int64_t>& idx, std::int64_t outer, std::int64_t n,
              std::int64_t inner) {
  const std::int64_t m = static_cast<std::int64_t>(idx.size());
  if (inner == 1 && outer > 1) {  // single elements (flip, roll): each thread adds into lines of its own
    parallel_for(0, outer, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(m, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                   for (std::int64_t i = b; i < e; ++i)
                     for (std::int64_t j = 0; j < m; ++j)
                       dst[i * n + idx[static_cast<std::size_t>(j)]] += src[i * m + j];
                 });
    return;
  }
  const std::size_t row_bytes = static_cast<std::size_t>(inner) * sizeof(T);
  const auto owners = detail::RowOwners::for_scatter(outer * m * inner, row_bytes);
  parallel_for(0, owners.count(), 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t me = first; me < last; ++me)
      for (std::int64_t i = 0; i < outer; ++i) {
        T* dst_i = dst + i * n * inner;
        const T* src_i = src + i * m * inner;
        for (std::int64_t j = 0; j < m; ++j) {
          const std::int64_t ahead = j + detail::kRowsAhead;
          if (ahead < m && owners.of(idx[ahead]) == me)
            detail::prefetch_row(dst_i + idx[ahead] * inner, row_bytes);
          if (owners.of(idx[j]) != me) continue;
          T* drow = dst_i + idx[j] * inner;
          const T* srow = src_i + j * inner;
          for (std::int64_t k = 0; k < inner; ++k) drow[k] += srow[k];
        }
      }
  });
}

// What an indexing kernel found: an index outside [-n, n) (as the CPU's message says).
std::string out_of_range_message(const char* op, const char* entry_note,
                                 const cuda_kernels::IndexReport& found) {
  std::string m = detail::concat(op, ": index ", found.value, " (entry ", found.position, " of the index",
                                 entry_note, ") is out of range for a dimension of size ", found.bound);
  if (found.count > 1) m += detail::concat(" (nor are ", found.count - 1, " other entries)");
  return m;
}
std::string bad_index_message(const cuda_kernels::IndexReport& found) {
  return out_of_range_message("index_select", "", found);
}
std::string bad_index_add_message(const cuda_kernels::IndexReport& found) {
  return out_of_range_message("index_add", "", found);
}
std::string bad_gather_message(const cuda_kernels::IndexReport& found) {
  return out_of_range_message("gather", ", in row-major order", found);
}

std::string bad_one_hot_message(const cuda_kernels::IndexReport& found) {
  std::string m =
      detail::concat("one_hot: index ", found.value, " (entry ", found.position,
                     " of the indices, in row-major order) is not a class in [0, ", found.bound, ")");
  if (found.count > 1) m += detail::concat(" (nor are ", found.count - 1, " other entries)");
  return m;
}

// index_select with x on a GPU, `index` int64 on the same GPU (indices from the host
// were checked there; the kernel checks the others and reports them without the host
// waiting). The index serves the backward too.
Tensor index_select_cuda(const Tensor& x, const Tensor& index, std::int64_t dim) {
  const Tensor src = x.detach().contiguous();
  Shape shape = x.shape();
  const std::int64_t n = shape[dim], m = index.numel();
  shape[dim] = m;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  std::int64_t outer, inner;
  split_at(x.shape(), dim, outer, inner);
  const auto t = detail::cuda_scalar(x.dtype(), "index_select");
  detail::cuda_for(x).index_rows(t, outer, n, m, inner, detail::dptr(src), detail::dptr<std::int64_t>(index),
                                 detail::dptr(out),
                                 detail::cuda_report_slot(x.device().index, bad_index_message));
  if (should_record({x})) {
    // d/dx: each selected row's gradient is added back to the row it came from.
    attach_grad_fn(out, "index_select", {x},
                   [xs = x.shape(), index, t, outer, n, m, inner, dim](const Tensor& g) {
                     if (is_grad_enabled())  // recording (create_graph): the recorded index_add
                       return Grads{index_add(zeros(xs, g.dtype(), g.device()), dim, index, g)};
                     Tensor gx = zeros(xs, g.dtype(), g.device());
                     const Tensor gc = g.contiguous();
                     detail::cuda_for(gc).index_add_rows(t, outer, n, m, inner, detail::dptr(gc),
                                                         detail::dptr<std::int64_t>(index), detail::dptr(gx),
                                                         cuda_kernels::ReportSlot{});  // checked forward
                     return Grads{gx};
                   },
                   {index});
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace

Tensor index_select(const Tensor& x, std::int64_t dim_in, const Tensor& index) {
  KILN_CHECK(x.dim() >= 1, "index_select: needs a tensor with at least one dimension");
  KILN_CHECK(index.dim() == 1, "index_select: the index must be 1-D but has shape ", fmt(index.shape()));
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "index_select");
  const std::int64_t n = x.shape()[dim];
  if (x.device().is_cuda() && index.device() == x.device()) {  // indices never come back to the host
    KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32,
               "index_select: indices must be int64 or int32, got ", index.dtype());
    return index_select_cuda(x, detail::int64_index(index), dim);
  }
  const std::vector<std::int64_t> idx = checked_indices(index, n, "index_select", x, dim);
  if (x.device().is_cuda()) return index_select_cuda(x, from_vector(idx).to(x.device()), dim);
  const Tensor src = x.detach().contiguous();
  Shape shape = x.shape();
  shape[dim] = static_cast<std::int64_t>(idx.size());
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  std::int64_t outer, inner;
  split_at(x.shape(), dim, outer, inner);
  const std::size_t row_bytes = static_cast<std::size_t>(inner) * itemsize(x.dtype());
  const auto* in = static_cast<const char*>(src.raw_data_ptr());
  auto* o = static_cast<char*>(out.raw_data_ptr());
  const std::int64_t m = static_cast<std::int64_t>(idx.size());
  if (inner == 1) {  // single elements (flip or roll of the last dimension): no memcpy call each
    visit_dtype(x.dtype(), [&]<class T>() {
      const T* from = static_cast<const T*>(src.raw_data_ptr());
      T* to = static_cast<T*>(out.raw_data_ptr());
      parallel_for(0, outer, std::max<std::int64_t>(1, kElementwiseGrain / std::max<std::int64_t>(m, 1)),
                   [&](std::int64_t b, std::int64_t e) {
                     for (std::int64_t i = b; i < e; ++i)
                       for (std::int64_t j = 0; j < m; ++j)
                         to[i * m + j] = from[i * n + idx[static_cast<std::size_t>(j)]];
                   });
    });
  } else {
    parallel_for(0, outer * m, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(inner, 1)),
                 [&](std::int64_t b, std::int64_t e) {
                   for (std::int64_t r = b; r < e; ++r) {
                     const std::int64_t i = r / m, j = r % m;
                     if (j + detail::kRowsAhead < m)
                       detail::prefetch_row(in + (i * n + idx[j + detail::kRowsAhead]) * row_bytes,
                                            row_bytes);
                     std::memcpy(o + r * row_bytes, in + (i * n + idx[j]) * row_bytes, row_bytes);
                   }
                 });
  }
  if (should_record({x})) {
    // d/dx: each selected row's gradient is added back to the row it came from.
    attach_grad_fn(
        out, "index_select", {x}, [xs = x.shape(), dtype = x.dtype(), dim, idx, n](const Tensor& g) {
          if (is_grad_enabled())  // recording (create_graph): the recorded index_add
            return Grads{index_add(zeros(xs, dtype), dim, from_vector(idx), g)};
          Tensor gx = zeros(xs, dtype);
          const Tensor gc = g.contiguous();
          std::int64_t outer2, inner2;
          split_at(xs, dim, outer2, inner2);
          visit_floating(dtype, "index_select backward",
                         [&]<class T>() { add_rows(ptr<T>(gx), ptr<T>(gc), idx, outer2, n, inner2); });
          return Grads{gx};
        });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor index_add(const Tensor& x, std::int64_t dim_in, const Tensor& index, const Tensor& source) {
  KILN_CHECK(x.dim() >= 1, "index_add: needs a tensor with at least one dimension");
  KILN_CHECK(index.dim() == 1, "index_add: the index must be 1-D but has shape ", fmt(index.shape()));
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "index_add");
  detail::check_floating("index_add", x);
  detail::check_same_dtype_device("index_add", {x, source});
  Shape want = x.shape();
  want[dim] = index.numel();
  KILN_CHECK(source.shape() == want, "index_add: source has shape ", fmt(source.shape()), " but x of shape ",
             fmt(x.shape()), " with ", index.numel(), " indices along dimension ", dim, " needs ", fmt(want));
  KILN_CHECK(index.device().is_cpu() || index.device() == x.device(), "index_add: x on ", x.device(),
             " but the index on ", index.device(), "; move the index with .to(x.device())");
  std::int64_t outer, inner;
  split_at(x.shape(), dim, outer, inner);
  const std::int64_t n = x.shape()[dim], m = index.numel();
  Tensor out = x.detach().clone();  // contiguous, and never x's own storage
  const Tensor src = source.detach().contiguous();
  Tensor kept_index;  // int64, on x's device: what the backward selects with
  if (x.device().is_cuda()) {
    if (index.device() == x.device()) {  // read on the GPU only; a bad entry is reported from there
      KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32,
                 "index_add: indices must be int64 or int32, got ", index.dtype());
      kept_index = detail::int64_index(index);
    } else {
      kept_index = from_vector(checked_indices(index, n, "index_add", x, dim)).to(x.device());
    }
    detail::cuda_for(x).index_add_rows(detail::cuda_scalar(x.dtype(), "index_add"), outer, n, m, inner,
                                       detail::dptr(src), detail::dptr<std::int64_t>(kept_index),
                                       detail::dptr(out),
                                       detail::cuda_report_slot(x.device().index, bad_index_add_message));
  } else {
    const std::vector<std::int64_t> idx = checked_indices(index, n, "index_add", x, dim);
    visit_floating(x.dtype(), "index_add",
                   [&]<class T>() { add_rows(ptr<T>(out), ptr<T>(src), idx, outer, n, inner); });
    kept_index = from_vector(idx);
  }
  if (should_record({x, source})) {
    // d/dx = g (x passes through); d/dsource = g's slices at the indices.
    attach_grad_fn(out, "index_add", {x, source},
                   [dim, kept_index](const Tensor& g) {
                     return Grads{g, index_select(g, dim, kept_index)};
                   },
                   {kept_index});
    mark_differentiable_backward(out);
  }
  return out;
}

namespace detail {

Tensor int64_index(const Tensor& index) {
  return (index.dtype() == kInt64 ? index.detach() : index.detach().to(kInt64)).contiguous();
}

namespace {
// gather's gradient on a GPU: g added into zeros of shape xs at the gathered positions. It
// is recorded when g requires grad (a walk with create_graph), its own gradient being the
// gather again: the two are adjoint linear maps, so the pair goes to any order.
Tensor gather_add_cuda(const Tensor& g, const Shape& xs, std::int64_t dim, const Tensor& index, bool wrap,
                       ReportMessage describe) {
  Tensor gx = zeros(xs, g.dtype(), g.device());
  Strides gx_base = gx.strides();
  gx_base[dim] = 0;
  cuda_for(g).gather_add(cuda_scalar(g.dtype(), "gather"),
                         cuda_loop(index.shape(), {&g.strides(), &gx_base, &index.strides()}, "gather"),
                         xs[dim], gx.strides()[dim], wrap, dptr(g), dptr<std::int64_t>(index), dptr(gx));
  if (should_record({g})) {
    attach_grad_fn(gx, "gather backward", {g}, [dim, index, wrap, describe](const Tensor& gg) {
      return Grads{gather_cuda(gg, dim, index, wrap, describe)};
    });
    mark_differentiable_backward(gx);
  }
  return gx;
}
}  // namespace

Tensor gather_cuda(const Tensor& x, std::int64_t dim, const Tensor& index, bool wrap,
                   ReportMessage describe) {
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  // The loop walks the index's shape; along `dim` the kernel steps by the index entry.
  Strides x_base = x.strides();
  x_base[dim] = 0;
  const auto t = cuda_scalar(x.dtype(), "gather");
  cuda_for(x).gather(t, cuda_loop(index.shape(), {&out.strides(), &x_base, &index.strides()}, "gather"),
                     x.shape()[dim], x.strides()[dim], wrap, dptr(x), dptr<std::int64_t>(index), dptr(out),
                     cuda_report_slot(x.device().index, describe));
  if (should_record({x})) {
    // d/dx gather = scatter-add of g into the gathered positions
    attach_grad_fn(out, "gather", {x},
                   [xs = x.shape(), dim, index, wrap, describe](const Tensor& g) {
                     return Grads{gather_add_cuda(g, xs, dim, index, wrap, describe)};
                   },
                   {index});
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace detail

Tensor gather(const Tensor& x, std::int64_t dim_in, const Tensor& index) {
  KILN_CHECK(index.dim() == x.dim(), "gather: index has shape ", fmt(index.shape()), " but x has shape ",
             fmt(x.shape()), "; both need the same number of dimensions");
  const std::int64_t dim = wrap_existing_dim(dim_in, x.dim(), "gather");
  for (std::int64_t d = 0; d < x.dim(); ++d)
    KILN_CHECK(d == dim || index.shape()[d] <= x.shape()[d], "gather: index shape ", fmt(index.shape()),
               " exceeds x shape ", fmt(x.shape()), " in dimension ", d);
  if (x.device().is_cuda()) {
    KILN_CHECK(index.device().is_cpu() || index.device() == x.device(), "gather: x on ", x.device(),
               " but the index on ", index.device(), "; move the index with .to(x.device())");
    if (index.device().is_cpu()) {  // checked here; it costs one upload
      const std::vector<std::int64_t> idx = checked_indices(index, x.shape()[dim], "gather", x, dim);
      return detail::gather_cuda(x, dim, from_vector(idx).reshape(index.shape()).to(x.device()), true,
                                 bad_gather_message);
    }
    KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32,
               "gather: indices must be int64 or int32, got ", index.dtype());
    return detail::gather_cuda(x, dim, detail::int64_index(index), true, bad_gather_message);
  }
  const std::vector<std::int64_t> idx = checked_indices(index, x.shape()[dim], "gather", x, dim);
  const Shape shape = index.shape();
  const bool record = should_record({x});
  // For each output element, its element offset into x, and (for the backward) its
  // position inside a contiguous tensor of x's shape: the index's coordinates counted up
  // one by one, dimension `dim` taken from the index entry.
  const Strides xs_st = contiguous_strides(x.shape());
  std::vector<std::int64_t> offsets(idx.size()), rel(record ? idx.size() : 0);
  {
    const std::size_t nd = shape.size();
    const auto d_at = static_cast<std::size_t>(dim);
    std::vector<std::int64_t> coord(nd, 0);
    std::int64_t off = x.offset(), at = 0;  // without dimension dim's share
    for (std::size_t k = 0; k < idx.size(); ++k) {
      offsets[k] = off + idx[k] * x.strides()[d_at];
      if (record) rel[k] = at + idx[k] * xs_st[d_at];
      for (std::size_t d = nd; d-- > 0;) {
        const std::int64_t step = d == d_at ? 0 : 1;
        off += step * x.strides()[d];
        at += step * xs_st[d];
        if (++coord[d] < shape[d]) break;
        off -= step * shape[d] * x.strides()[d];
        at -= step * shape[d] * xs_st[d];
        coord[d] = 0;
      }
    }
  }
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  visit_dtype(x.dtype(), [&]<class T>() {
    const T* base = static_cast<const T*>(x.storage()->data());
    T* o = ptr<T>(out);
    parallel_for(0, static_cast<std::int64_t>(offsets.size()), kElementwiseGrain,
                 [&](std::int64_t b, std::int64_t e) {
                   for (std::int64_t k = b; k < e; ++k) o[k] = base[offsets[static_cast<std::size_t>(k)]];
                 });
  });
  if (record) {
    // d/dx gather = scatter-add of g into the gathered positions
    attach_grad_fn(
        out, "gather", {x}, [xs = x.shape(), dtype = x.dtype(), rel = std::move(rel)](const Tensor& g) {
          if (is_grad_enabled())  // recording (create_graph): the recorded index_add
            return Grads{
                index_add(zeros({numel_of(xs)}, dtype), 0, from_vector(rel), g.reshape({-1})).reshape(xs)};
          Tensor gx = zeros(xs, dtype);
          const Tensor gc = g.contiguous();
          visit_floating(dtype, "gather backward", [&]<class T>() {
            T* dst = ptr<T>(gx);
            const T* src = ptr<T>(gc);
            for (std::size_t k = 0; k < rel.size(); ++k) dst[rel[k]] += src[k];
          });
          return Grads{gx};
        });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor one_hot(const Tensor& indices, std::int64_t num_classes) {
  KILN_CHECK(indices.dtype() == kInt64 || indices.dtype() == kInt32,
             "one_hot: indices must be int64 or int32, got ", indices.dtype());
  KILN_CHECK(num_classes > 0 || num_classes == -1,
             "one_hot: num_classes must be positive, or -1 for one more than the largest index; got ",
             num_classes);
  if (num_classes == -1) {
    KILN_CHECK(indices.numel() > 0, "one_hot: an empty index tensor has no largest index; pass num_classes");
    const auto largest = static_cast<std::int64_t>(max(indices).item());
    KILN_CHECK(largest >= 0, "one_hot: every index is negative (the largest is ", largest,
               "); class indices run from 0");
    num_classes = largest + 1;
  }
  Shape shape = indices.shape();
  shape.push_back(num_classes);
  if (indices.device().is_cuda()) {
    // A gather through the identity 0 .. num_classes-1 returns each valid index as it is
    // and reports a bad one (which reads 0) from the GPU; then one comparison per class.
    const Tensor classes = arange(num_classes).to(indices.device());
    const Tensor checked = detail::gather_cuda(classes, 0, detail::int64_index(indices.reshape({-1})), false,
                                               bad_one_hot_message);
    return eq(checked.unsqueeze(1), classes).to(kInt64).reshape(shape);
  }
  const std::vector<std::int64_t> idx = indices.to_vector<std::int64_t>();
  Tensor out = zeros(shape, kInt64);
  std::int64_t* o = ptr<std::int64_t>(out);
  for (std::size_t k = 0; k < idx.size(); ++k) {
    KILN_CHECK(idx[k] >= 0 && idx[k] < num_classes, "one_hot: index ", idx[k], " (entry ", k,
               " of the indices, in row-major order) is not a class in [0, ", num_classes, ")");
    o[static_cast<std::int64_t>(k) * num_classes + idx[k]] = 1;
  }
  return out;
}

Tensor nonzero(const Tensor& x_in) {
  KILN_CHECK(x_in.defined(), "nonzero: the tensor is undefined");
  const Tensor x = x_in.detach().to(Device::cpu()).contiguous();
  // Counted first; then every element's coordinates (counted up line by line, no
  // division) are written to the next free row, which only a set element keeps: no branch
  // on the values, which a random mask would mispredict half the time.
  const std::int64_t n = x.numel(), rank = x.dim();
  const std::int64_t width = std::max<std::int64_t>(rank, 1);
  std::vector<std::int64_t> rows;
  std::int64_t count = 0;
  visit_dtype(x.dtype(), [&]<class T>() {
    const T* p = ptr<T>(x);
    for (std::int64_t i = 0; i < n; ++i) count += !(p[i] == T(0));  // NaN compares unequal: kept
    rows.resize(static_cast<std::size_t>((count + 1) * width));
    std::int64_t* row = rows.data();  // ends at the spare row after the last kept one
    // lines along the last dimension; the coordinates before it counted up line by line
    const std::int64_t len = rank == 0 ? 1 : x.size(rank - 1), lines = len == 0 ? 0 : n / len;
    std::vector<std::int64_t> coord(static_cast<std::size_t>(width), 0);
    for (std::int64_t line = 0; line < lines; ++line) {
      const T* values = p + line * len;
      for (std::int64_t j = 0; j < len; ++j) {
        for (std::int64_t d = 0; d + 1 < rank; ++d) row[d] = coord[static_cast<std::size_t>(d)];
        row[width - 1] = j;
        row += !(values[j] == T(0)) ? width : 0;
      }
      for (std::int64_t d = rank - 1; d-- > 0;) {
        if (++coord[static_cast<std::size_t>(d)] < x.size(d)) break;
        coord[static_cast<std::size_t>(d)] = 0;
      }
    }
  });
  Tensor out = Tensor::empty({count, rank}, kInt64);
  if (count * rank > 0)
    std::memcpy(out.raw_data_ptr(), rows.data(),
                static_cast<std::size_t>(count * rank) * sizeof(std::int64_t));
  return out.to(x_in.device());
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  KILN_CHECK(x.defined() && mask.defined(), "masked_select: x or the mask is undefined");
  KILN_CHECK(mask.dtype() == kUInt8, "masked_select: the mask must be uint8 (as comparisons return) but is ",
             mask.dtype(), "; build it with kiln::gt/lt/eq... or .to(kiln::kUInt8)");
  KILN_CHECK(broadcast_shapes(mask.shape(), x.shape(), "masked_select") == x.shape(), "masked_select: mask ",
             fmt(mask.shape()), " does not broadcast to x's shape ", fmt(x.shape()));
  // The flat positions of the set entries, then one index_select of the flattened x.
  const Tensor positions = nonzero(mask.expand(x.shape()).reshape({-1})).reshape({-1});
  return index_select(x.reshape({-1}), 0, positions);
}

// x[mask] picks rows of x viewed as (mask's elements, rest...); x[indices] is one
// index_select along dimension 0 with the indices flattened, then the index's shape.
Tensor Tensor::operator[](const Tensor& index) const {
  KILN_CHECK(defined() && index.defined(), "operator[]: the tensor or the index is undefined");
  const Shape& shape = this->shape();
  if (index.dtype() == kUInt8) {
    const std::int64_t k = index.dim();
    KILN_CHECK(k <= dim() && std::equal(index.shape().begin(), index.shape().end(), shape.begin()),
               "operator[]: a mask of shape ", fmt(index.shape()),
               " does not match the leading dimensions of x's shape ", fmt(shape),
               "; it must have x's first ", k, " sizes (for a mask that broadcasts, use masked_select)");
    Shape rows{index.numel()};
    rows.insert(rows.end(), shape.begin() + k, shape.end());
    return index_select(reshape(rows), 0, nonzero(index.reshape({-1})).reshape({-1}));
  }
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32,
             "operator[]: an index tensor must be int64 or "
             "int32 (positions in dimension 0) or a uint8 mask, but is ",
             index.dtype());
  KILN_CHECK(dim() >= 1, "operator[]: a 0-d tensor has no dimension to index");
  Shape out = index.shape();
  out.insert(out.end(), shape.begin() + 1, shape.end());
  return index_select(*this, 0, index.reshape({-1})).reshape(out);
}

// One index_select per dimension, with the positions n-1 .. 0, computed without
// recording; the backward is the same flip of g (a flip is its own inverse), as fast as
// the forward and differentiable again.
namespace {
// A copy of x read backward along `dims` (on the CPU): x's strides with those dims'
// negated, from the last element along each, in one strided copy (a flipped last dim is
// a run read downward).
Tensor reversed_copy(const Tensor& x, const std::vector<std::int64_t>& dims) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() == 0) return out;
  Strides backward = x.strides();
  std::int64_t start = 0;
  for (std::int64_t d : dims) {
    start += (x.size(d) - 1) * backward[static_cast<std::size_t>(d)];
    backward[static_cast<std::size_t>(d)] = -backward[static_cast<std::size_t>(d)];
  }
  visit_dtype(x.dtype(), [&]<class T>() {
    T* o = ptr<T>(out);
    const T* from = ptr<T>(x) + start;
    const auto plan = detail::make_loop_plan<2>(x.shape(), {&out.strides(), &backward});
    detail::for_each_run(plan, kElementwiseGrain, [&](const auto& off, std::int64_t n, const auto& st) {
      T* to = o + off[0];
      const T* src = from + off[1];
      if (st[0] == 1 && st[1] == -1) {
        for (std::int64_t i = 0; i < n; ++i) to[i] = src[-i];
      } else {
        for (std::int64_t i = 0; i < n; ++i) to[i * st[0]] = src[i * st[1]];
      }
    });
  });
  return out;
}
}  // namespace

Tensor flip(const Tensor& x, const std::vector<std::int64_t>& dims) {
  std::vector<bool> seen(static_cast<std::size_t>(x.dim()), false);
  std::vector<std::int64_t> flipped;
  for (std::int64_t d_in : dims) {
    const std::int64_t d = wrap_dim(d_in, x.dim(), "flip");
    if (x.dim() == 0) continue;
    KILN_CHECK(!seen[static_cast<std::size_t>(d)], "flip: dimension ", d, " is named twice in the list");
    seen[static_cast<std::size_t>(d)] = true;
    flipped.push_back(d);
  }
  if (flipped.empty())
    return x.clone();  // a copy even when nothing flips (no dims, or a 0-d x, as in PyTorch)
  Tensor out;
  if (x.device().is_cuda()) {
    NoGradGuard plain;
    out = x.detach();
    for (std::int64_t d : flipped)
      out = index_select(out, d, arange(static_cast<double>(x.size(d) - 1), -1.0, -1.0, kInt64));
  } else {
    out = reversed_copy(x, flipped);
  }
  if (should_record({x})) {
    attach_grad_fn(out, "flip", {x}, [flipped](const Tensor& g) { return Grads{flip(g, flipped)}; });
    mark_differentiable_backward(out);
  }
  return out;
}

// x viewed with a size-1 dimension before each of its own, expanded to the repeat
// counts, and copied: expand's backward sums each tile's gradient back.
Tensor repeat(const Tensor& x, const std::vector<std::int64_t>& repeats) {
  const auto count = static_cast<std::int64_t>(repeats.size());
  KILN_CHECK(count >= x.dim(), "repeat: ", count, " repeat counts for a tensor of shape ", fmt(x.shape()),
             "; give one per dimension (", x.dim(), ") or more");
  const std::int64_t lead = count - x.dim();
  Shape split, tiled, out;
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t r = repeats[static_cast<std::size_t>(k)], size = k < lead ? 1 : x.size(k - lead);
    KILN_CHECK(r >= 0, "repeat: repeat count ", r, " (entry ", k, ") is negative");
    split.insert(split.end(), {1, size});
    tiled.insert(tiled.end(), {r, size});
    out.push_back(r * size);
  }
  return x.reshape(split).expand(tiled).contiguous().reshape(out);
}

// Per dimension two block copies: the last `shift` entries to the front, the rest after
// them. The backward rolls g back the other way (differentiable again).
Tensor roll(const Tensor& x, const std::vector<std::int64_t>& shifts, const std::vector<std::int64_t>& dims) {
  if (dims.empty()) {
    KILN_CHECK(shifts.size() == 1, "roll: without dims give one shift (for the flattened tensor), got ",
               shifts.size());
    return x.numel() == 0 ? x.clone() : roll(x.flatten(), shifts, {0}).reshape(x.shape());
  }
  KILN_CHECK(shifts.size() == dims.size(), "roll: ", shifts.size(), " shifts for ", dims.size(),
             " dims; give one shift per dimension");
  std::vector<std::int64_t> moved_dims, moved_by;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t dim = wrap_dim(dims[i], x.dim(), "roll"), n = x.size(dim);
    if (n == 0) continue;
    moved_dims.push_back(dim);
    moved_by.push_back(((shifts[i] % n) + n) % n);
  }
  Tensor out = x.detach();
  bool copied = false;
  {
    NoGradGuard plain;
    for (std::size_t i = 0; i < moved_dims.size(); ++i) {
      const std::int64_t dim = moved_dims[i], k = moved_by[i], n = x.size(dim);
      if (k == 0) continue;
      const Tensor from = out;
      out = Tensor::empty(x.shape(), x.dtype(), x.device());
      out.narrow(dim, k, n - k).copy_(from.narrow(dim, 0, n - k));
      out.narrow(dim, 0, k).copy_(from.narrow(dim, n - k, k));
      copied = true;
    }
  }
  if (!copied) out = x.detach().clone();  // a copy even when every shift is a whole turn
  if (should_record({x})) {
    std::vector<std::int64_t> back(moved_by.size());
    for (std::size_t i = 0; i < back.size(); ++i) back[i] = -moved_by[i];
    attach_grad_fn(out, "roll", {x}, [moved_dims, back](const Tensor& g) {
      return Grads{moved_dims.empty() ? g : roll(g, back, moved_dims)};
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor diff(const Tensor& x, std::int64_t n, std::int64_t dim_in) {
  KILN_CHECK(x.dim() >= 1, "diff: needs a tensor with at least one dimension, not a 0-d one");
  KILN_CHECK(n >= 0, "diff: the order n = ", n, " must be >= 0");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "diff");
  if (n == 0 || x.size(dim) == 0) return x.clone();
  Tensor out = x;
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t len = std::max<std::int64_t>(out.size(dim) - 1, 0);
    out = out.narrow(dim, std::min<std::int64_t>(1, out.size(dim)), len) - out.narrow(dim, 0, len);
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim_in) {
  KILN_CHECK(!tensors.empty(), "cat: needs at least one tensor");
  const Tensor& first = tensors.front();
  KILN_CHECK(first.dim() >= 1, "cat: 0-d tensors cannot be concatenated; use stack()");
  const std::int64_t dim = wrap_dim(dim_in, first.dim(), "cat");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    detail::check_same_dtype_device("cat", {first, t});
    bool same = t.dim() == first.dim();
    for (std::int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || t.shape()[d] == first.shape()[d];
    KILN_CHECK(same, "cat: tensor ", i, " has shape ", fmt(t.shape()), " but tensor 0 has shape ",
               fmt(first.shape()), "; all sizes must match except in dimension ", dim);
    shape[dim] += t.shape()[dim];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  std::vector<std::int64_t> sizes;
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    detail::copy_elements(out.detach().narrow(dim, offset, t.shape()[dim]), t);
    sizes.push_back(t.shape()[dim]);
    offset += t.shape()[dim];
  }
  if (should_record(tensors)) {
    // d/dx_i cat = the slice of g that x_i filled
    attach_grad_fn(out, "cat", tensors, [sizes, dim](const Tensor& g) {
      Grads grads;
      std::int64_t off = 0;
      for (std::int64_t s : sizes) {
        grads.push_back(g.narrow(dim, off, s));
        off += s;
      }
      return grads;
    });
    mark_differentiable_backward(out);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  KILN_CHECK(!tensors.empty(), "stack: needs at least one tensor");
  const std::int64_t d = wrap_dim(dim, tensors.front().dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (const Tensor& t : tensors) {
    KILN_CHECK(t.shape() == tensors.front().shape(), "stack: shapes ", fmt(tensors.front().shape()), " and ",
               fmt(t.shape()), " differ; stack needs equal shapes");
    parts.push_back(t.unsqueeze(d));
  }
  return cat(parts, d);
}

}  // namespace kiln
