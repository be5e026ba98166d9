// Shapes and strides: row-major, last dimension fastest, strides in elements.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

namespace kiln {

using Shape = std::vector<std::int64_t>;
using Strides = std::vector<std::int64_t>;

// Product of the sizes (1 for a 0-d shape, 0 if any size is 0).
std::int64_t numel_of(const Shape& shape);

// Strides of a freshly allocated, contiguous tensor of this shape.
Strides contiguous_strides(const Shape& shape);

// NumPy broadcasting: align trailing dimensions; each pair must be equal or contain a 1.
// Throws kiln::Error naming `op` and both shapes when they cannot be broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Wraps a possibly negative dimension index into [0, ndim); throws if out of range.
// As in PyTorch, a 0-d tensor accepts 0 and -1 (wrapped to 0) where an op treats it as
// one element: such an op must not index the (empty) shape with the result.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim, const char* op);
// The same for an op that needs a real dimension: on a 0-d tensor any dim is an Error.
std::int64_t wrap_existing_dim(std::int64_t dim, std::int64_t ndim, const char* op);

// Formats a shape as "(2, 3)"; a 0-d shape prints as "()".
struct ShapeFormat {
  const std::vector<std::int64_t>& dims;
};
std::ostream& operator<<(std::ostream& os, ShapeFormat s);
inline ShapeFormat fmt(const Shape& s) { return ShapeFormat{s}; }

}  // namespace kiln
