// The scatter family: src's entries written, added or reduced into a copy of x at the
// positions an index names along one dimension (torch.scatter, scatter_add,
// scatter_reduce), and index_copy / index_fill. The index is read on the host (a GPU
// index once) into flat positions of x; the arithmetic is then index_select, index_add,
// where and the reductions, so every form is differentiable and runs on either device
// (scatter_reduce's amax and amin on the CPU in one pass of their own).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <vector>

#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

// Where each index entry lands: its place among x's row-major elements (the entry's own
// coordinates, with its value along `dim`), and the src entries it carries, flattened
// in the index's row-major order (src narrowed to the index's shape).
struct Scatter {
  std::vector<std::int64_t> places;
  Tensor values;  // (entries) of src; undefined without a src
};

Scatter plan(const char* op, const Tensor& x, std::int64_t dim_in, const Tensor& index, const Tensor* src) {
  detail::check_floating(op, x);
  if (src) detail::check_same_dtype_device(op, {x, *src});
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op, ": indices must be int64 or int32, got ",
             index.dtype());
  const Shape src_shape = src ? src->shape() : index.shape();
  KILN_CHECK(x.dim() >= 1 && index.dim() == x.dim() && static_cast<std::int64_t>(src_shape.size()) == x.dim(),
             op, ": x of shape ", fmt(x.shape()), ", index of shape ", fmt(index.shape()),
             " and src of shape ", fmt(src_shape), " need the same number of dimensions (at least one)");
  KILN_CHECK(index.device().is_cpu() || index.device() == x.device(), op, ": x on ", x.device(),
             " but the index on ", index.device(), "; move the index with .to(x.device())");
  const std::int64_t dim = dim_in < 0 ? dim_in + x.dim() : dim_in;
  KILN_CHECK(dim >= 0 && dim < x.dim(), op, ": dimension ", dim_in, " is out of range for shape ",
             fmt(x.shape()));
  const Shape& is = index.shape();
  for (std::int64_t d = 0; d < x.dim(); ++d)
    KILN_CHECK(is[d] <= src_shape[static_cast<std::size_t>(d)] && (d == dim || is[d] <= x.size(d)), op,
               ": index of shape ", fmt(is), " exceeds src of shape ", fmt(src_shape),
               " or, outside dimension ", dim, ", x of shape ", fmt(x.shape()), " in dimension ", d);
  Scatter s;
  s.places = index.to_vector<std::int64_t>();
  const Strides x_strides = contiguous_strides(x.shape());
  // The entry's place without its `dim` term, kept up to date as the index's coordinates
  // advance row-major (an odometer), so each entry costs O(1).
  std::vector<std::int64_t> coord(static_cast<std::size_t>(x.dim()), 0);
  std::int64_t base = 0;
  const std::int64_t size = x.size(dim), stride = x_strides[dim];
  for (std::size_t k = 0; k < s.places.size(); ++k) {
    const std::int64_t v = s.places[k];
    KILN_CHECK(v >= 0 && v < size, op, ": index ", v, " is out of range for dimension ", dim, " of size ",
               size, " (x of shape ", fmt(x.shape()), ")");
    s.places[k] = base + v * stride;
    for (std::int64_t d = x.dim() - 1; d >= 0; --d) {
      const std::int64_t step = d == dim ? 0 : x_strides[d];
      if (++coord[d] < is[d]) {
        base += step;
        break;
      }
      base -= step * (is[d] - 1);
      coord[d] = 0;
    }
  }
  if (src) {
    Tensor picked = *src;
    for (std::int64_t d = 0; d < src->dim(); ++d) picked = picked.narrow(d, 0, is[d]);
    s.values = picked.reshape({-1});
  }
  return s;
}

// A host vector as a tensor on `device`.
template <class T>
Tensor on(const std::vector<T>& v, Device device) {
  Tensor t = from_vector(v, {static_cast<std::int64_t>(v.size())});
  return device.is_cuda() ? t.to(device) : t;
}

// A uint8 mask over x's elements, 1 at the given places.
Tensor mask_of(const Tensor& x, const std::vector<std::int64_t>& places) {
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(x.numel()), 0);
  for (std::int64_t p : places) mask[static_cast<std::size_t>(p)] = 1;
  return on(mask, x.device());
}

// scatter_reduce's amax / amin on the CPU, one pass over the entries (a NaN wins, as
// amax's). The gradient goes to the candidates equal to their place's result, split evenly
// among them (x's own value one of them where include_self), as amax over each place's
// candidates gives it; an untouched place passes its gradient to x.
Tensor scatter_extreme_cpu(const Tensor& flat, const Scatter& s, const std::vector<std::int64_t>& count,
                           bool largest, bool include_self) {
  const Tensor base = flat.detach().contiguous(), values = s.values.detach().contiguous();
  Tensor out = base.clone();
  Tensor ties = zeros({flat.numel()}, flat.dtype());  // the candidates equal to each result
  std::vector<std::uint8_t> touched(count.size(), 0);
  for (std::size_t p = 0; p < count.size(); ++p) touched[p] = count[p] > 0;
  visit_floating(flat.dtype(), "scatter_reduce", [&]<class T>() {
    T* o = detail::ptr<T>(out);
    T* t = detail::ptr<T>(ties);
    const T* b = detail::ptr<T>(base);
    const T* v = detail::ptr<T>(values);
    const T start = largest ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    if (!include_self)
      for (std::size_t p = 0; p < touched.size(); ++p)
        if (touched[p]) o[p] = start;
    for (std::size_t k = 0; k < s.places.size(); ++k) {
      T& r = o[s.places[k]];
      if (std::isnan(v[k]) || (largest ? v[k] > r : v[k] < r)) r = v[k];
    }
    for (std::size_t k = 0; k < s.places.size(); ++k) t[s.places[k]] += v[k] == o[s.places[k]] ? 1 : 0;
    if (include_self)
      for (std::size_t p = 0; p < touched.size(); ++p) t[p] += touched[p] && b[p] == o[p] ? 1 : 0;
  });
  if (should_record({flat, s.values})) {
    attach_grad_fn(
        out, "scatter_reduce", {flat, s.values},
        [places = on(s.places, Device::cpu()), mask = on(touched, Device::cpu()), od = out.detach(), base,
         values, divisor = maximum(ties, ones({1}, ties.dtype())), include_self](const Tensor& g) {
          const Tensor share = g / divisor;
          const Tensor picked = eq(values, index_select(od, 0, places)).to(g.dtype());
          const Tensor to_values = index_select(share, 0, places) * picked;
          const Tensor to_self = include_self ? share * eq(base, od).to(g.dtype()) : zeros_like(g);
          return Grads{where(mask, to_self, g), to_values};
        });
    // The rule is linear in g (recorded ops; the masks are constant almost everywhere): any order.
    mark_differentiable_backward(out);
  }
  return out;
}

}  // namespace

Tensor scatter_add(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& src) {
  const Scatter s = plan("scatter_add", x, dim, index, &src);
  return index_add(x.contiguous().reshape({-1}), 0, on(s.places, x.device()), s.values).reshape(x.shape());
}

Tensor scatter(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& src) {
  const Scatter s = plan("scatter", x, dim, index, &src);
  // Where an index repeats a place, the last entry (in the index's row-major order) wins.
  std::vector<std::int64_t> kept, dest;
  std::vector<bool> seen(static_cast<std::size_t>(x.numel()), false);
  for (std::size_t k = s.places.size(); k-- > 0;) {
    if (seen[static_cast<std::size_t>(s.places[k])]) continue;
    seen[static_cast<std::size_t>(s.places[k])] = true;
    kept.push_back(static_cast<std::int64_t>(k));
    dest.push_back(s.places[k]);
  }
  const Tensor cleared = where(mask_of(x, dest), 0.0, x.contiguous().reshape({-1}));
  const Tensor written = index_select(s.values, 0, on(kept, x.device()));
  return index_add(cleared, 0, on(dest, x.device()), written).reshape(x.shape());
}

Tensor scatter(const Tensor& x, std::int64_t dim, const Tensor& index, double value) {
  const Scatter s = plan("scatter", x, dim, index, nullptr);
  return where(mask_of(x, s.places), value, x.contiguous().reshape({-1})).reshape(x.shape());
}

const char* scatter_reduce_name(ScatterReduce reduce) {
  switch (reduce) {
    case ScatterReduce::sum:
      return "sum";
    case ScatterReduce::prod:
      return "prod";
    case ScatterReduce::mean:
      return "mean";
    case ScatterReduce::amax:
      return "amax";
    case ScatterReduce::amin:
      return "amin";
  }
  return "?";
}

Tensor scatter_reduce(const Tensor& x, std::int64_t dim, const Tensor& index, const Tensor& src,
                      ScatterReduce reduce, bool include_self) {
  const Scatter s = plan("scatter_reduce", x, dim, index, &src);
  const Tensor flat = x.contiguous().reshape({-1});
  // The places written, ascending, and the entries each receives in the index's order:
  // a counting sort of the entries by place (group g holds members[first[g] .. first[g + 1])).
  std::vector<std::int64_t> count(static_cast<std::size_t>(x.numel()), 0);
  for (std::int64_t p : s.places) ++count[static_cast<std::size_t>(p)];
  std::vector<std::int64_t> dest, first{0}, slot(static_cast<std::size_t>(x.numel()), 0);
  for (std::size_t p = 0; p < count.size(); ++p)
    if (count[p] > 0) {
      slot[p] = first.back();
      dest.push_back(static_cast<std::int64_t>(p));
      first.push_back(first.back() + count[p]);
    }
  std::vector<std::int64_t> members(s.places.size());
  for (std::size_t k = 0; k < s.places.size(); ++k)
    members[static_cast<std::size_t>(slot[static_cast<std::size_t>(s.places[k])]++)] =
        static_cast<std::int64_t>(k);
  const Tensor touched = mask_of(x, dest), dest_t = on(dest, x.device());
  const Tensor base = include_self ? flat : where(touched, 0.0, flat);
  if (reduce == ScatterReduce::sum || reduce == ScatterReduce::mean) {
    const Tensor total = index_add(base, 0, on(s.places, x.device()), s.values);
    if (reduce == ScatterReduce::sum) return total.reshape(x.shape());
    std::vector<double> divisor(static_cast<std::size_t>(x.numel()), 1.0);
    for (std::size_t p = 0; p < count.size(); ++p)
      if (count[p] > 0) divisor[p] = static_cast<double>(count[p]) + (include_self ? 1 : 0);
    return (total / on(divisor, x.device()).to(x.dtype())).reshape(x.shape());
  }
  if (x.device().is_cpu() && reduce != ScatterReduce::prod)
    return scatter_extreme_cpu(flat, s, count, reduce == ScatterReduce::amax, include_self)
        .reshape(x.shape());
  // prod (and amax, amin on a GPU): each place's candidates (x's value first where include_self, then
  // its entries) as one row of a matrix; rows of similar length share a matrix, padded
  // to a power of two with the reduction's identity, so the padding stays under half.
  const double identity = reduce == ScatterReduce::prod   ? 1.0
                          : reduce == ScatterReduce::amax ? -std::numeric_limits<double>::infinity()
                                                          : std::numeric_limits<double>::infinity();
  const std::int64_t entries = static_cast<std::int64_t>(s.places.size()),
                     selves = static_cast<std::int64_t>(dest.size());
  const std::int64_t pad_at = entries + (include_self ? selves : 0);
  std::vector<Tensor> parts = {s.values};
  if (include_self) parts.push_back(index_select(flat, 0, dest_t));
  parts.push_back(full({1}, identity, x.dtype(), x.device()));
  const Tensor candidates = cat(parts, 0);
  std::map<std::int64_t, std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>>
      by_width;  // ids, places
  for (std::int64_t g = 0; g < selves; ++g) {
    const std::int64_t begin = first[static_cast<std::size_t>(g)],
                       end = first[static_cast<std::size_t>(g) + 1];
    const std::int64_t length = end - begin + (include_self ? 1 : 0);
    std::int64_t width = 1;
    while (width < length) width *= 2;
    auto& [ids, places] = by_width[width];
    if (include_self) ids.push_back(entries + g);
    ids.insert(ids.end(), members.begin() + begin, members.begin() + end);
    ids.insert(ids.end(), static_cast<std::size_t>(width - length), pad_at);
    places.push_back(dest[static_cast<std::size_t>(g)]);
  }
  std::vector<Tensor> results;
  std::vector<std::int64_t> order;
  for (const auto& [width, rows] : by_width) {
    const Tensor v = index_select(candidates, 0, on(rows.first, x.device())).reshape({-1, width});
    results.push_back(reduce == ScatterReduce::prod   ? prod(v, 1)
                      : reduce == ScatterReduce::amax ? amax(v, {1})
                                                      : amin(v, {1}));
    order.insert(order.end(), rows.second.begin(), rows.second.end());
  }
  if (results.empty())
    return index_add(flat, 0, on(s.places, x.device()), s.values)
        .reshape(x.shape());  // no entries: x, still a function of src
  return index_add(where(touched, 0.0, flat), 0, on(order, x.device()), cat(results, 0)).reshape(x.shape());
}

Tensor index_copy(const Tensor& x, std::int64_t dim_in, const Tensor& index, const Tensor& source) {
  KILN_CHECK(index.dim() == 1, "index_copy: the index must be 1-D but has shape ", fmt(index.shape()));
  KILN_CHECK(x.dim() >= 1 && source.dim() == x.dim(), "index_copy: x of shape ", fmt(x.shape()),
             " and source of shape ", fmt(source.shape()),
             " need the same number of dimensions (at least one)");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "index_copy");
  for (std::int64_t d = 0; d < x.dim(); ++d)
    KILN_CHECK(source.size(d) == (d == dim ? index.numel() : x.size(d)), "index_copy: source of shape ",
               fmt(source.shape()), " must match x of shape ", fmt(x.shape()), " outside dimension ", dim,
               " and hold ", index.numel(), " slices (one per index) along it");
  // scatter with the index spread over source's shape: entry j of index along dim.
  Shape line(static_cast<std::size_t>(x.dim()), 1);
  line[static_cast<std::size_t>(dim)] = index.numel();
  return scatter(x, dim, index.to(kInt64).reshape(line).expand(source.shape()).contiguous(), source);
}

Tensor index_fill(const Tensor& x, std::int64_t dim_in, const Tensor& index, double value) {
  detail::check_floating("index_fill", x);
  KILN_CHECK(index.dim() <= 1 && (index.dtype() == kInt64 || index.dtype() == kInt32),
             "index_fill: the index must be a 0-d or 1-D int64 or int32 tensor, got ", index.dtype(),
             " of shape ", fmt(index.shape()));
  KILN_CHECK(x.dim() >= 1, "index_fill: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "index_fill"), n = x.size(dim);
  std::vector<std::uint8_t> chosen(static_cast<std::size_t>(n), 0);
  for (std::int64_t v : index.to_vector<std::int64_t>()) {
    KILN_CHECK(v >= -n && v < n, "index_fill: index ", v, " is out of range for dimension ", dim, " of size ",
               n, " (x of shape ", fmt(x.shape()), ")");
    chosen[static_cast<std::size_t>(v < 0 ? v + n : v)] = 1;
  }
  Shape line(static_cast<std::size_t>(x.dim()), 1);
  line[static_cast<std::size_t>(dim)] = n;
  return where(on(chosen, x.device()).reshape(line), value, x);
}

}  // namespace kiln
