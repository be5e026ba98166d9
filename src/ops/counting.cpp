// searchsorted, bucketize, bincount, histc and unique. searchsorted is a binary search
// per value (kernels/cuda/index_math.hpp's sorted_position, the CPU's loop and the GPU's
// kernel alike); the rest are composites: index_add of ones or weights into bins, and
// for unique a sort, a mask of where each run of equal values starts, and its running sum.
#include "kiln/ops/counting.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/cuda/index_math.hpp"
#include "kiln/autograd/grad_mode.hpp"
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

Tensor searchsorted(const Tensor& sorted_sequence, const Tensor& values, bool right) {
  detail::check_same_dtype_device("searchsorted", {sorted_sequence, values});
  KILN_CHECK(sorted_sequence.dtype() != kQ4_0,
             "searchsorted: q4_0 blocks have no values to compare; dequantize first");
  KILN_CHECK(sorted_sequence.dim() >= 1, "searchsorted: the sorted sequence needs at least one dimension");
  const bool shared = sorted_sequence.dim() == 1;
  if (!shared) {
    const Shape lead_s(sorted_sequence.shape().begin(), sorted_sequence.shape().end() - 1);
    KILN_CHECK(values.dim() == sorted_sequence.dim() &&
                   Shape(values.shape().begin(), values.shape().end() - 1) == lead_s,
               "searchsorted: values of shape ", fmt(values.shape()), " need the leading dims of the sorted ",
               "sequence's shape ", fmt(sorted_sequence.shape()),
               " (a row of values per row), or use a 1-D sequence");
  }
  const Tensor seq = sorted_sequence.detach().contiguous(), vals = values.detach().contiguous();
  Tensor out = Tensor::empty(values.shape(), kInt64, values.device());
  const std::int64_t m = seq.size(-1), n = values.dim() == 0 ? 1 : values.size(-1);
  const std::int64_t rows = n == 0 ? 0 : values.numel() / n;
  if (values.numel() == 0) return out;
  if (values.device().is_cuda()) {
    detail::cuda_for(values).searchsorted(detail::cuda_scalar(values.dtype(), "searchsorted"), rows, m, n,
                                          shared, detail::dptr(seq), detail::dptr(vals), right,
                                          detail::dptr<std::int64_t>(out));
    return out;
  }
  visit_dtype(values.dtype(), [&]<class T>() {
    const T* s = detail::ptr<T>(seq);
    const T* v = detail::ptr<T>(vals);
    std::int64_t* o = detail::ptr<std::int64_t>(out);
    parallel_for(0, rows * n, 4096, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i)
        o[i] = cuda_kernels::sorted_position(s + (shared ? 0 : (i / n) * m), m, v[i], right);
    });
  });
  return out;
}

Tensor bucketize(const Tensor& x, const Tensor& boundaries, bool right) {
  KILN_CHECK(boundaries.dim() == 1, "bucketize: the boundaries must be 1-D, got shape ",
             fmt(boundaries.shape()));
  return searchsorted(boundaries, x, right);
}

Tensor bincount(const Tensor& x, const Tensor& weights, std::int64_t minlength) {
  KILN_CHECK(x.dim() == 1 && !is_floating(x.dtype()) && x.dtype() != kQ4_0,
             "bincount: needs a 1-D tensor of integers, got ", x.dtype(), " of shape ", fmt(x.shape()));
  KILN_CHECK(minlength >= 0, "bincount: minlength ", minlength, " is negative");
  std::int64_t length = minlength;
  const Tensor index = x.to(kInt64);
  if (x.numel() > 0) {  // the extremes in float64 (exact below 2^53), where amin / amax work
    const Tensor wide = index.to(kFloat64);
    const double lowest = amin(wide).item(), highest = amax(wide).item();
    KILN_CHECK(lowest >= 0, "bincount: the values must be non-negative, and ",
               static_cast<std::int64_t>(lowest), " is not");
    length = std::max(length, static_cast<std::int64_t>(highest) + 1);
  }
  if (weights.defined()) {
    detail::check_floating("bincount", weights);
    KILN_CHECK(weights.shape() == x.shape() && weights.device() == x.device(), "bincount: weights of shape ",
               fmt(weights.shape()), " on ", weights.device(), " need x's shape ", fmt(x.shape()),
               " and device");
    return index_add(zeros({length}, weights.dtype(), x.device()), 0, index, weights);
  }
  // Counts below 2^53 add exactly in float64 (the GPU's index_add takes floating types).
  return index_add(zeros({length}, kFloat64, x.device()), 0, index, ones({x.numel()}, kFloat64, x.device()))
      .to(kInt64);
}

Tensor histc(const Tensor& x_in, std::int64_t bins, double min, double max) {
  detail::check_floating("histc", x_in);
  KILN_CHECK(bins > 0, "histc: bins = ", bins, " must be positive");
  const Tensor x = x_in.detach().reshape({-1}).to(kFloat64);
  if (min == max && x.numel() > 0) {
    min = amin(x).item();
    max = amax(x).item();
  }
  if (min == max) min -= 1, max += 1;  // as torch: a degenerate range widens by 1 each way
  KILN_CHECK(min < max && std::isfinite(min) && std::isfinite(max), "histc: the range [", min, ", ", max,
             "] is not finite and increasing");
  // Bin floor((x - min) bins / (max - min)), max itself in the last bin; entries outside
  // [min, max] (and NaN) add 0.
  const Tensor inside = logical_and(ge(x, min), le(x, max));
  const Tensor bin =
      clamp(floor((x - min) * (static_cast<double>(bins) / (max - min))), 0.0, static_cast<double>(bins - 1));
  const Tensor place = where(inside, bin, 0.0).to(kInt64);
  return index_add(zeros({bins}, kFloat64, x.device()), 0, place, inside.to(kFloat64)).to(x_in.dtype());
}

namespace {
// The runs of equal entries of a 1-D tensor (n >= 1) in its order: their first values,
// each entry's run (its place among them) and the runs' lengths. NaN != NaN: each NaN is a
// run of its own.
Unique runs_of(const Tensor& v) {
  const std::int64_t n = v.numel();
  const Tensor starts =
      cat({ones({1}, kUInt8, v.device()), ne(v.narrow(0, 1, n - 1), v.narrow(0, 0, n - 1))}, 0);
  const Tensor run = cumsum(starts, 0) - 1;
  const Tensor values = masked_select(v, starts);
  return {values, run, bincount(run, Tensor(), values.numel())};
}

Tensor flattened_for(const char* op, const Tensor& x) {
  KILN_CHECK(x.dtype() != kQ4_0, op, ": q4_0 blocks have no values to compare; dequantize first");
  return x.detach().reshape({-1});
}
}  // namespace

Unique unique(const Tensor& x_in) {
  NoGradGuard no_grad;
  const Tensor x = flattened_for("unique", x_in);
  if (x.numel() == 0)
    return {x.clone(), Tensor::empty(x_in.shape(), kInt64, x.device()),
            Tensor::empty({0}, kInt64, x.device())};
  const ValuesIndices sorted = sort(x);
  const Unique r = runs_of(sorted.values);
  // Entry sorted.indices[k] of x is in run r.inverse[k]: read it through the inverse permutation.
  const Tensor inverse = index_select(r.inverse, 0, argsort(sorted.indices));
  return {r.values, inverse.reshape(x_in.shape()), r.counts};
}

Unique unique_consecutive(const Tensor& x_in) {
  NoGradGuard no_grad;
  const Tensor x = flattened_for("unique_consecutive", x_in);
  if (x.numel() == 0)
    return {x.clone(), Tensor::empty(x_in.shape(), kInt64, x.device()),
            Tensor::empty({0}, kInt64, x.device())};
  const Unique r = runs_of(x);
  return {r.values, r.inverse.reshape(x_in.shape()), r.counts};
}

Tensor isin(const Tensor& elements, const Tensor& test_elements, bool invert) {
  KILN_CHECK(elements.dtype() == test_elements.dtype(), "isin: elements (", dtype_name(elements.dtype()),
             ") and test_elements (", dtype_name(test_elements.dtype()), ") must have the same dtype");
  NoGradGuard no_grad;
  const Tensor flat = elements.detach().reshape({elements.numel()});
  Tensor found;
  if (test_elements.numel() == 0) {
    found = zeros({flat.numel()}, kUInt8, elements.device());
  } else {
    // One more copy of the last value, so that the position past the end (an entry above
    // them all) reads something, which cannot equal the entry.
    Tensor sorted = sort(test_elements.detach().reshape({test_elements.numel()})).values;
    sorted = cat({sorted, sorted.narrow(0, sorted.numel() - 1, 1)});
    const Tensor at = searchsorted(sorted.narrow(0, 0, sorted.numel() - 1), flat);
    found = gather(sorted, 0, at) == flat;
  }
  if (invert) found = !found;
  return found.reshape(elements.shape());
}

Tensor argwhere(const Tensor& x) { return nonzero(x); }

}  // namespace kiln
