// pad: a constant frame around a tensor, or one made of the tensor's own edges
// (reflected, replicated, or wrapped around).
#include <algorithm>
#include <string>
#include <vector>

#include "kiln/autograd/node.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln {

namespace {

// One padded dimension: `before` and `after` new positions around its `size` old ones.
struct PaddedDim {
  std::int64_t dim, before, after;
};

// The (before, after) pairs of `pads`, last dimension first, checked against x.
std::vector<PaddedDim> padded_dims(const Tensor& x, const std::vector<std::int64_t>& pads) {
  const auto pairs = static_cast<std::int64_t>(pads.size() / 2);
  KILN_CHECK(pads.size() % 2 == 0 && pairs <= x.dim(), "pad: ", pads.size(),
             " pad sizes for a tensor of shape ", fmt(x.shape()),
             "; give a (before, after) pair per dimension, the last dimension first");
  std::vector<PaddedDim> dims;
  for (std::int64_t k = 0; k < pairs; ++k) {
    const PaddedDim p{x.dim() - 1 - k, pads[static_cast<std::size_t>(2 * k)],
                      pads[static_cast<std::size_t>(2 * k + 1)]};
    KILN_CHECK(p.before >= 0 && p.after >= 0, "pad: sizes (", p.before, ", ", p.after, ") for dimension ",
               p.dim, " must be >= 0; crop with narrow() or slice()");
    dims.push_back(p);
  }
  return dims;
}

// Where position i of the padded dimension (i in [-before, size + after)) reads from.
std::int64_t source_position(std::int64_t i, std::int64_t size, PadMode mode) {
  switch (mode) {
    case PadMode::reflect:  // the edge itself is not repeated: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
      return i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;
    case PadMode::replicate:
      return i < 0 ? 0 : i >= size ? size - 1 : i;
    case PadMode::circular:
      return ((i % size) + size) % size;
    case PadMode::constant:
      break;
  }
  return i;
}

// How far each mode can reach, checked before any index is made.
void check_reach(const Tensor& x, const PaddedDim& p, PadMode mode) {
  const std::int64_t size = x.size(p.dim), reach = std::max(p.before, p.after);
  const bool ok = mode == PadMode::reflect    ? reach < size
                  : mode == PadMode::circular ? reach <= size
                                              : size > 0;  // replicate: an edge to copy
  KILN_CHECK(ok, "pad: ", pad_mode_name(mode), " padding (", p.before, ", ", p.after, ") for dimension ",
             p.dim, " of a tensor of shape ", fmt(x.shape()),
             mode == PadMode::reflect ? " must be smaller than that dimension's size"
             : mode == PadMode::circular
                 ? " must not exceed that dimension's size (it would wrap more than once)"
                 : " needs a nonempty dimension to copy",
             "; pad less, or use constant padding");
}

}  // namespace

const char* pad_mode_name(PadMode mode) {
  switch (mode) {
    case PadMode::constant:
      return "constant";
    case PadMode::reflect:
      return "reflect";
    case PadMode::replicate:
      return "replicate";
    case PadMode::circular:
      return "circular";
  }
  return "?";
}

Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, double value) {
  const std::vector<PaddedDim> dims = padded_dims(x, pads);
  Shape shape = x.shape();
  std::vector<std::int64_t> before(static_cast<std::size_t>(x.dim()), 0);
  for (const PaddedDim& p : dims) {
    before[static_cast<std::size_t>(p.dim)] = p.before;
    shape[p.dim] += p.before + p.after;
  }
  // The inner block of `out`, a view shaped like x.
  const auto inner = [before](Tensor t, const Shape& sizes) {
    for (std::int64_t d = 0; d < t.dim(); ++d) t = t.narrow(d, before[static_cast<std::size_t>(d)], sizes[d]);
    return t;
  };
  Tensor out = full(shape, value, x.dtype(), x.device());
  inner(out, x.shape()).copy_(x.detach());
  if (should_record({x})) {  // the gradient is the inner block, a view (then a recorded copy)
    attach_grad_fn(out, "pad", {x},
                   [inner, xs = x.shape()](const Tensor& g) { return Grads{inner(g, xs).contiguous()}; });
    mark_differentiable_backward(out);
  }
  return out;
}

// Each padded dimension is one index_select of the positions its mode reads, so the
// gradient of an edge value sums over every copy of it (index_select's backward).
Tensor pad(const Tensor& x, const std::vector<std::int64_t>& pads, PadMode mode, double value) {
  if (mode == PadMode::constant) return pad(x, pads, value);
  KILN_CHECK(value == 0.0, "pad: ", pad_mode_name(mode), " padding takes no value (got ", value,
             "); the value is for PadMode::constant");
  const std::vector<PaddedDim> dims = padded_dims(x, pads);
  Tensor out = x;
  bool copied = false;
  for (const PaddedDim& p : dims) {
    if (p.before == 0 && p.after == 0) continue;
    check_reach(x, p, mode);
    const std::int64_t size = x.size(p.dim);
    std::vector<std::int64_t> positions;
    positions.reserve(static_cast<std::size_t>(size + p.before + p.after));
    for (std::int64_t i = -p.before; i < size + p.after; ++i)
      positions.push_back(source_position(i, size, mode));
    out = index_select(out, p.dim, from_vector(positions));
    copied = true;
  }
  return copied ? out : x.clone();  // a new tensor, as the constant mode gives
}

}  // namespace kiln
