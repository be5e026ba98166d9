// Arranging tensors (kiln/ops/shape_ops.hpp): movedim, rot90, diag_embed, block_diag,
// meshgrid, cartesian_prod, take_along_dim, take and put, unravel_index, fliplr and
// flipud, the triangle's indices, repeat_interleave and tile. Views, or views
// with pad, cat, flip and gather, so autograd derives every backward on either device.
#include <algorithm>
#include <vector>

#include "kiln/core/factories.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"

namespace kiln {

namespace {

std::int64_t wrap(std::int64_t d, std::int64_t rank, const char* op) {
  KILN_CHECK(d >= -std::max<std::int64_t>(rank, 1) && d < std::max<std::int64_t>(rank, 1), op, ": dimension ",
             d, " is out of range for ", rank, " dimensions");
  return d < 0 ? d + rank : d;
}

}  // namespace

Tensor movedim(const Tensor& x, const std::vector<std::int64_t>& source,
               const std::vector<std::int64_t>& destination) {
  constexpr const char* op = "movedim";
  const std::int64_t rank = x.dim();
  KILN_CHECK(source.size() == destination.size(), op, ": ", source.size(), " source dims but ",
             destination.size(), " destinations; give one for each");
  std::vector<std::int64_t> order(static_cast<std::size_t>(rank), -1);  // order[destination] = source
  std::vector<char> moved(static_cast<std::size_t>(rank), 0);
  for (std::size_t i = 0; i < source.size(); ++i) {
    const std::int64_t from = wrap(source[i], rank, op), to = wrap(destination[i], rank, op);
    KILN_CHECK(!moved[static_cast<std::size_t>(from)] && order[static_cast<std::size_t>(to)] < 0, op,
               ": source and destination dims must each be distinct, got source ", fmt(Shape(source)),
               " and destination ", fmt(Shape(destination)));
    moved[static_cast<std::size_t>(from)] = 1;
    order[static_cast<std::size_t>(to)] = from;
  }
  std::int64_t next = 0;  // the dims not moved fill the free places in their order
  for (auto& o : order) {
    if (o >= 0) continue;
    while (moved[static_cast<std::size_t>(next)]) ++next;
    o = next++;
  }
  return x.permute(order);
}

Tensor movedim(const Tensor& x, std::int64_t source, std::int64_t destination) {
  return movedim(x, std::vector<std::int64_t>{source}, std::vector<std::int64_t>{destination});
}

Tensor rot90(const Tensor& x, std::int64_t k, const std::vector<std::int64_t>& dims) {
  constexpr const char* op = "rot90";
  KILN_CHECK(dims.size() == 2 && x.dim() >= 2, op,
             ": needs two dims of a tensor with at least two, got dims ", fmt(Shape(dims)), " of shape ",
             fmt(x.shape()));
  const std::int64_t a = wrap(dims[0], x.dim(), op), b = wrap(dims[1], x.dim(), op);
  KILN_CHECK(a != b, op, ": the two dims must differ, got ", fmt(Shape(dims)));
  switch (((k % 4) + 4) % 4) {
    case 1:
      return flip(x, {b}).transpose(a, b).contiguous();
    case 2:
      return flip(x, {a, b});
    case 3:
      return flip(x, {a}).transpose(a, b).contiguous();
    default:
      return x.clone();
  }
}

Tensor diag_embed(const Tensor& x, std::int64_t offset, std::int64_t dim1, std::int64_t dim2) {
  constexpr const char* op = "diag_embed";
  KILN_CHECK(x.dim() >= 1, op, ": needs at least one dimension, got a 0-d tensor");
  const std::int64_t rank = x.dim() + 1, d1 = wrap(dim1, rank, op), d2 = wrap(dim2, rank, op);
  KILN_CHECK(d1 != d2, op, ": dim1 and dim2 must differ, got ", dim1, " and ", dim2);
  const std::int64_t m = x.size(-1), n = m + std::abs(offset);
  // Row i of an (m, n) block holds x[..., i] at column i + max(offset, 0): x times a one-hot
  // row; then rows are added above (offset < 0) or below (offset > 0) to make it n x n.
  std::vector<std::int64_t> columns;
  for (std::int64_t i = 0; i < m; ++i) columns.push_back(i + std::max<std::int64_t>(offset, 0));
  const Tensor picks = one_hot(from_vector(columns), n).to(x.dtype()).to(x.device());
  const Tensor rows = x.unsqueeze(-1) * picks;  // (*, m, n)
  const Tensor square =
      pad(rows, {0, 0, std::max<std::int64_t>(-offset, 0), std::max<std::int64_t>(offset, 0)});
  return movedim(square, {rank - 2, rank - 1}, {d1, d2});
}

Tensor block_diag(const std::vector<Tensor>& tensors) {
  constexpr const char* op = "block_diag";
  KILN_CHECK(!tensors.empty(), op, ": needs at least one tensor");
  std::vector<Tensor> blocks;
  std::int64_t width = 0;
  for (const Tensor& t : tensors) {
    KILN_CHECK(t.dim() <= 2, op, ": each tensor must have at most two dimensions, got shape ",
               fmt(t.shape()));
    KILN_CHECK(t.dtype() == tensors[0].dtype() && t.device() == tensors[0].device(), op,
               ": every tensor must share the first's dtype and device (", dtype_name(tensors[0].dtype()),
               ")");
    blocks.push_back(t.dim() == 2 ? t : t.reshape({1, t.numel()}));
    width += blocks.back().size(1);
  }
  std::int64_t left = 0;
  for (Tensor& b : blocks) {
    const std::int64_t w = b.size(1);
    b = pad(b, {left, width - left - w});
    left += w;
  }
  return cat(blocks, 0);
}

std::vector<Tensor> meshgrid(const std::vector<Tensor>& tensors, MeshIndexing indexing) {
  constexpr const char* op = "meshgrid";
  KILN_CHECK(!tensors.empty(), op, ": needs at least one tensor");
  Shape shape;
  for (const Tensor& t : tensors) {
    KILN_CHECK(t.dim() <= 1, op, ": each tensor must be 1-D (or 0-D), got shape ", fmt(t.shape()));
    shape.push_back(t.numel());
  }
  const bool xy = indexing == MeshIndexing::xy && tensors.size() >= 2;
  if (xy) std::swap(shape[0], shape[1]);
  std::vector<Tensor> grids;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::size_t along = xy && i < 2 ? 1 - i : i;  // xy: the first varies along dim 1
    Shape view(shape.size(), 1);
    view[along] = shape[along];
    grids.push_back(tensors[i].reshape(view).expand(shape));
  }
  return grids;
}

Tensor cartesian_prod(const std::vector<Tensor>& tensors) {
  KILN_CHECK(!tensors.empty(), "cartesian_prod: needs at least one tensor");
  if (tensors.size() == 1) {
    KILN_CHECK(tensors[0].dim() == 1, "cartesian_prod: each tensor must be 1-D, got shape ",
               fmt(tensors[0].shape()));
    return tensors[0];
  }
  for (const Tensor& t : tensors)
    KILN_CHECK(t.dim() == 1, "cartesian_prod: each tensor must be 1-D, got shape ", fmt(t.shape()));
  std::vector<Tensor> columns;
  for (const Tensor& g : meshgrid(tensors)) columns.push_back(g.reshape({g.numel()}));
  return stack(columns, 1);
}

Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<std::int64_t> dim) {
  constexpr const char* op = "take_along_dim";
  KILN_CHECK(indices.dtype() == kInt64 || indices.dtype() == kInt32, op,
             ": indices must be int64 or int32, got ", dtype_name(indices.dtype()));
  if (!dim) return gather(x.reshape({x.numel()}), 0, indices.reshape({indices.numel()}));
  KILN_CHECK(x.dim() == indices.dim() && x.dim() >= 1, op, ": x of shape ", fmt(x.shape()),
             " and indices of shape ", fmt(indices.shape()), " must have the same number of dimensions");
  const std::int64_t d = wrap(*dim, x.dim(), op);
  // The other dimensions broadcast; along d each keeps its own size.
  Shape xs = x.shape(), is = indices.shape();
  for (std::int64_t i = 0; i < x.dim(); ++i) {
    if (i == d) continue;
    const auto u = static_cast<std::size_t>(i);
    KILN_CHECK(xs[u] == is[u] || xs[u] == 1 || is[u] == 1, op, ": x of shape ", fmt(x.shape()),
               " and indices of shape ", fmt(indices.shape()), " do not broadcast outside dim ", d);
    xs[u] = is[u] = std::max(xs[u], is[u]);
  }
  return gather(x.expand(xs), d, indices.expand(is).contiguous());
}

Tensor fliplr(const Tensor& x) {
  KILN_CHECK(x.dim() >= 2, "fliplr: needs at least 2 dimensions, got shape ", fmt(x.shape()),
             "; flip a 1-D tensor with flipud or flip(x, {0})");
  return flip(x, {1});
}
Tensor flipud(const Tensor& x) {
  KILN_CHECK(x.dim() >= 1, "flipud: needs at least 1 dimension, not a 0-d tensor");
  return flip(x, {0});
}

namespace {
// A flat index into `count` entries checked on the host (int64 or int32, each in
// [-count, count)) and with its negative positions wrapped, flattened to int64.
Tensor flat_positions(const char* op, const Tensor& index, std::int64_t count) {
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op,
             ": the index must be int64 or int32, not ", dtype_name(index.dtype()));
  const Tensor flat = index.reshape({index.numel()}).to(kInt64);
  if (flat.numel() == 0) return flat;
  const auto lowest = static_cast<std::int64_t>(amin(flat).item()),
             highest = static_cast<std::int64_t>(amax(flat).item());
  KILN_CHECK(lowest >= -count && highest < count, op, ": position ", lowest < -count ? lowest : highest,
             " is out of range for a tensor of ", count, " entries; positions run from ", -count, " to ",
             count - 1);
  return lowest >= 0 ? flat : where(flat < 0.0, flat + static_cast<double>(count), flat);
}
}  // namespace

Tensor take(const Tensor& x, const Tensor& index) {
  const Tensor positions = flat_positions("take", index, x.numel());
  return index_select(x.reshape({x.numel()}), 0, positions).reshape(index.shape());
}

Tensor put(const Tensor& x, const Tensor& index, const Tensor& source, bool accumulate) {
  KILN_CHECK(source.numel() == index.numel(), "put: source has ", source.numel(), " entries (shape ",
             fmt(source.shape()), ") but the index has ", index.numel(), " (shape ", fmt(index.shape()),
             "); give one value per position");
  const Tensor positions = flat_positions("put", index, x.numel());
  return index_put(x.reshape({x.numel()}), {positions}, source.reshape({source.numel()}), accumulate)
      .reshape(x.shape());
}

std::vector<Tensor> unravel_index(const Tensor& index, const Shape& shape) {
  constexpr const char* op = "unravel_index";
  KILN_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, op,
             ": the index must be int64 or int32, not ", dtype_name(index.dtype()));
  for (const std::int64_t size : shape)
    KILN_CHECK(size >= 0, op, ": the shape ", fmt(shape), " has a negative size");
  const std::int64_t count = numel_of(shape);
  Tensor rest = index.to(kInt64);
  if (rest.numel() > 0) {
    const auto lowest = static_cast<std::int64_t>(amin(rest).item()),
               highest = static_cast<std::int64_t>(amax(rest).item());
    KILN_CHECK(lowest >= 0 && highest < count, op, ": position ", lowest < 0 ? lowest : highest,
               " is out of range for shape ", fmt(shape), " of ", count, " entries (from 0 to ", count - 1,
               ")");
  }
  std::vector<Tensor> coords(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (d == 0) {
      coords[d] = rest;
      break;
    }
    const auto size = static_cast<double>(shape[d]);
    coords[d] = remainder(rest, size);
    rest = floor_divide(rest, size);
  }
  return coords;
}

namespace {
Tensor triangle_indices(const char* op, std::int64_t rows, std::int64_t cols, std::int64_t offset,
                        bool upper) {
  KILN_CHECK(rows >= 0 && cols >= 0, op, ": rows ", rows, " and cols ", cols, " must be >= 0");
  std::vector<std::int64_t> r, c;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      if (upper ? j - i >= offset : j - i <= offset) {
        r.push_back(i);
        c.push_back(j);
      }
  const auto count = static_cast<std::int64_t>(r.size());
  r.insert(r.end(), c.begin(), c.end());
  return from_vector(r, {2, count});
}
}  // namespace

Tensor triu_indices(std::int64_t rows, std::int64_t cols, std::int64_t offset) {
  return triangle_indices("triu_indices", rows, cols, offset, true);
}
Tensor tril_indices(std::int64_t rows, std::int64_t cols, std::int64_t offset) {
  return triangle_indices("tril_indices", rows, cols, offset, false);
}

namespace {
// The counts of a repeat_interleave as host integers, each checked.
std::vector<std::int64_t> counts_of(const Tensor& counts, const char* op) {
  KILN_CHECK(counts.dtype() == kInt64 && counts.dim() <= 1, op,
             ": repeats must be a 0-d or 1-D int64 tensor, got ", dtype_name(counts.dtype()), " of shape ",
             fmt(counts.shape()));
  std::vector<std::int64_t> v = counts.to(Device::cpu()).contiguous().to_vector<std::int64_t>();
  for (std::size_t i = 0; i < v.size(); ++i)
    KILN_CHECK(v[i] >= 0, op, ": repeats must be >= 0, got ", v[i], " at position ", i);
  return v;
}

// Indices 0 .. n-1, each i counts[i] times, on `device`.
Tensor expanded_positions(const std::vector<std::int64_t>& counts, Device device) {
  std::vector<std::int64_t> idx;
  for (std::size_t i = 0; i < counts.size(); ++i)
    idx.insert(idx.end(), static_cast<std::size_t>(counts[i]), static_cast<std::int64_t>(i));
  return from_vector(idx, {static_cast<std::int64_t>(idx.size())}).to(device);
}
}  // namespace

Tensor repeat_interleave(const Tensor& x, const Tensor& repeats, std::optional<std::int64_t> dim) {
  constexpr const char* op = "repeat_interleave";
  const Tensor in = dim ? x : x.reshape({x.numel()});
  const std::int64_t d = dim ? wrap(*dim, x.dim(), op) : 0;
  KILN_CHECK(in.dim() >= 1, op, ": a 0-d tensor has no dimension ", d, "; leave dim unset to flatten it");
  std::vector<std::int64_t> counts = counts_of(repeats, op);
  const std::int64_t n = in.size(d);
  KILN_CHECK(counts.size() == 1 || static_cast<std::int64_t>(counts.size()) == n, op, ": ", counts.size(),
             " repeats for ", n, " slices along dim ", d, " of shape ", fmt(in.shape()), "; give one or ", n);
  if (counts.size() == 1) counts.assign(static_cast<std::size_t>(n), counts[0]);
  return index_select(in, d, expanded_positions(counts, x.device()));
}

Tensor repeat_interleave(const Tensor& x, std::int64_t repeats, std::optional<std::int64_t> dim) {
  return repeat_interleave(x, from_vector(std::vector<std::int64_t>{repeats}, {1}), dim);
}

Tensor repeat_interleave(const Tensor& counts) {
  const char* op = "repeat_interleave";
  KILN_CHECK(counts.dim() == 1, op, ": counts must be a 1-D int64 tensor, got shape ", fmt(counts.shape()));
  return expanded_positions(counts_of(counts, op), counts.device());
}

Tensor tile(const Tensor& x, std::vector<std::int64_t> reps) {
  if (static_cast<std::int64_t>(reps.size()) < x.dim())
    reps.insert(reps.begin(), static_cast<std::size_t>(x.dim()) - reps.size(), 1);
  return repeat(x, reps);
}

}  // namespace kiln
