#include "kiln/core/shape.hpp"

#include <algorithm>

#include "kiln/core/error.hpp"

namespace kiln {

std::int64_t numel_of(const Shape& shape) {
  // The nonzero sizes must multiply within 64 bits even when a zero size makes the
  // count 0: strides are products of them too.
  std::int64_t n = 1;
  bool overflow = false, empty = false;
  for (std::int64_t s : shape) {
    if (s == 0) empty = true;
    else overflow |= __builtin_mul_overflow(n, s, &n);
  }
  KILN_CHECK(!overflow, "shape ", fmt(shape), " holds more elements than a 64-bit count can number");
  return empty ? 0 : n;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  std::int64_t s = 1;
  bool overflow = false;
  for (std::size_t d = shape.size(); d-- > 0;) {
    strides[d] = s;
    overflow |= __builtin_mul_overflow(s, std::max<std::int64_t>(shape[d], 1), &s);
  }
  KILN_CHECK(!overflow, "shape ", fmt(shape), " holds more elements than a 64-bit count can number");
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (std::size_t i = 0; i < nd; ++i) {
    const std::int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    const std::int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    KILN_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", fmt(a), " and ", fmt(b),
               " cannot be broadcast: dimension ", i, " has sizes ", da, " and ", db,
               " (each pair must be equal or contain a 1)");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim, const char* op) {
  const std::int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  KILN_CHECK(dim >= lo && dim <= hi, op, ": dimension ", dim, " is out of range for a tensor with ",
             ndim, " dimensions (expected ", lo, " to ", hi, ")");
  return dim < 0 ? dim + std::max<std::int64_t>(ndim, 1) : dim;
}

std::int64_t wrap_existing_dim(std::int64_t dim, std::int64_t ndim, const char* op) {
  KILN_CHECK(ndim > 0, op, ": a 0-d tensor has no dimension ", dim, "; reshape it with .reshape({1}) first");
  return wrap_dim(dim, ndim, op);
}

std::ostream& operator<<(std::ostream& os, ShapeFormat s) {
  os << '(';
  for (std::size_t i = 0; i < s.dims.size(); ++i) os << (i ? ", " : "") << s.dims[i];
  return os << ')';
}

}  // namespace kiln
