// topk, sort and the order statistics (kthvalue, median, nanmedian, mode, quantile,
// nanquantile): entries along a dimension in rank order (the k best, or all). The
// positions are found per row (a (partial) sort on the CPU; on a GPU k passes over the
// row for a few picks, else a bitonic sort); the values are a gather at them, which
// carries the gradient.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "kernels/cuda/index_math.hpp"  // sort_scratch_slots
#include "kiln/core/factories.hpp"
#include "kiln/core/threads.hpp"
#include "kiln/ops/elementwise.hpp"
#include "kiln/ops/math.hpp"
#include "kiln/ops/reduce.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"

namespace kiln {

namespace {

// Whether (a, ia) ranks before (b, ib): NaN above every number, then the larger
// (smaller) value, then the lower position; the GPU kernel ranks the same way.
template <class T>
bool ranks_before(T a, std::int64_t ia, T b, std::int64_t ib, bool largest) {
  const bool na = a != a, nb = b != b;  // NOLINT(misc-redundant-expression): NaN tests
  if (na || nb) {
    if (na && nb) return ia < ib;
    return largest ? na : nb;
  }
  if (a == b) return ia < ib;
  return largest ? a > b : a < b;
}

// ranks_before for float32 rows as one integer per entry: the value's order key in the
// high 32 bits (its bits turned so that unsigned order is numeric order, -0 as +0, every
// NaN above +inf; all of them flipped for the largest first), its position in the low 32
// (the lower position first on ties). Sorting these plain integers is about twice as fast
// as sorting positions by the comparison above.
void ranked_float_rows(const float* base, std::int64_t rows, std::int64_t len, std::int64_t k, bool largest,
                       std::int64_t* out) {
  parallel_for(0, rows, std::max<std::int64_t>(1, 16384 / len), [&](std::int64_t b, std::int64_t e) {
    std::vector<std::uint64_t> keys(static_cast<std::size_t>(len));
    for (std::int64_t r = b; r < e; ++r) {
      const float* row = base + r * len;
      for (std::int64_t i = 0; i < len; ++i) {
        const float v = row[i] + 0.0f;  // -0 -> +0
        std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
        bits = v != v ? 0xFFFFFFFFu : (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
        if (largest) bits = ~bits;
        keys[static_cast<std::size_t>(i)] =
            (static_cast<std::uint64_t>(bits) << 32) | static_cast<std::uint64_t>(i);
      }
      if (k == len)
        std::sort(keys.begin(), keys.end());
      else
        std::partial_sort(keys.begin(), keys.begin() + k, keys.end());
      for (std::int64_t i = 0; i < k; ++i)
        out[r * k + i] = static_cast<std::int64_t>(keys[static_cast<std::size_t>(i)] & 0xFFFFFFFFu);
    }
  });
}

// Up to this many picks, a GPU topk makes k passes over each row; beyond, it sorts.
constexpr std::int64_t kTopkPassesUpTo = 16;

// The positions of the k best entries of each line along `dim` (every entry, in rank
// order, when k is the line's length): int64, x's shape with k along `dim`.
Tensor ranked_positions(const char* op, const Tensor& x, std::int64_t dim, std::int64_t k, bool largest) {
  const std::int64_t len = x.size(dim);
  // Rows along the last dimension: `dim` moves there, and back at the end.
  std::vector<std::int64_t> order;
  for (std::int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) order.push_back(d);
  order.push_back(dim);
  const Tensor rows_view = x.detach().permute(order).contiguous();
  const std::int64_t rows = len == 0 ? 0 : rows_view.numel() / len;
  Shape picked_shape = rows_view.shape();
  picked_shape.back() = k;
  Tensor picked = Tensor::empty(picked_shape, kInt64, x.device());
  if (rows > 0 && k > 0) {
    if (x.device().is_cuda()) {
      const auto& kernels = detail::cuda_for(x);
      const auto t = detail::cuda_scalar(x.dtype(), op);
      // k passes over a row against a sort's log² steps: past a few picks, sorting wins.
      if (k <= kTopkPassesUpTo) {
        kernels.topk_rows(t, largest, rows, len, k, detail::dptr(rows_view),
                          detail::dptr<std::int64_t>(picked));
      } else {
        const std::int64_t slots = cuda_kernels::sort_scratch_slots(rows, len);
        const Tensor scratch = slots > 0 ? Tensor::empty({slots}, kInt64, x.device()) : Tensor();
        Tensor all = k == len ? picked : Tensor::empty(rows_view.shape(), kInt64, x.device());
        kernels.sort_rows(t, largest, rows, len, detail::dptr(rows_view), detail::dptr<std::int64_t>(all),
                          slots > 0 ? detail::dptr<std::int64_t>(scratch) : nullptr);
        if (k < len) picked = all.narrow(-1, 0, k).contiguous();
      }
    } else {
      visit_dtype(x.dtype(), [&]<class T>() {
        const T* base = detail::ptr<T>(rows_view);
        std::int64_t* out = picked.data_ptr<std::int64_t>();
        if constexpr (std::is_same_v<T, float>) {
          if (len < (std::int64_t(1) << 32)) {
            ranked_float_rows(base, rows, len, k, largest, out);
            return;
          }
        }
        // Each candidate carries its value, so that comparisons read no row through an index.
        struct Entry {
          T value;
          std::int64_t position;
        };
        parallel_for(0, rows, std::max<std::int64_t>(1, 16384 / len), [&](std::int64_t b, std::int64_t e) {
          std::vector<Entry> candidates(static_cast<std::size_t>(len));
          const auto before = [largest](const Entry& u, const Entry& v) {
            return ranks_before(u.value, u.position, v.value, v.position, largest);
          };
          for (std::int64_t r = b; r < e; ++r) {
            const T* row = base + r * len;
            for (std::int64_t i = 0; i < len; ++i) candidates[static_cast<std::size_t>(i)] = {row[i], i};
            if (k == len)
              std::sort(candidates.begin(), candidates.end(), before);
            else
              std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end(), before);
            for (std::int64_t i = 0; i < k; ++i)
              out[r * k + i] = candidates[static_cast<std::size_t>(i)].position;
          }
        });
      });
    }
  }
  std::vector<std::int64_t> inverse(order.size());
  for (std::size_t p = 0; p < order.size(); ++p)
    inverse[static_cast<std::size_t>(order[p])] = static_cast<std::int64_t>(p);
  return picked.permute(inverse).contiguous();
}

}  // namespace

ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t dim_in, bool largest) {
  KILN_CHECK(x.dim() >= 1, "topk: needs a tensor with at least one dimension");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "topk");
  const std::int64_t len = x.size(dim);
  KILN_CHECK(k >= 0 && k <= len, "topk: k = ", k, " is outside [0, ", len, "], the size of dimension ", dim,
             " of shape ", fmt(x.shape()));
  Tensor indices = ranked_positions("topk", x, dim, k, largest);
  return {gather(x, dim, indices), indices};  // the values, differentiable in x
}

ValuesIndices sort(const Tensor& x, std::int64_t dim_in, bool descending) {
  KILN_CHECK(x.dim() >= 1, "sort: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "sort");
  Tensor indices = ranked_positions("sort", x, dim, x.size(dim), descending);
  return {gather(x, dim, indices), indices};
}

Tensor argsort(const Tensor& x, std::int64_t dim_in, bool descending) {
  KILN_CHECK(x.dim() >= 1, "argsort: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "argsort");
  return ranked_positions("argsort", x, dim, x.size(dim), descending);
}

namespace {
// The entries of x at `positions` (x's shape with 1 along dim), and the positions, with
// dim dropped unless keepdim.
ValuesIndices picked(const Tensor& x, std::int64_t dim, const Tensor& positions, bool keepdim) {
  Tensor values = gather(x, dim, positions);
  if (keepdim) return {values, positions};
  return {values.squeeze(dim), positions.squeeze(dim)};
}
}  // namespace

ValuesIndices kthvalue(const Tensor& x, std::int64_t k, std::int64_t dim_in, bool keepdim) {
  KILN_CHECK(x.dim() >= 1, "kthvalue: needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), "kthvalue");
  KILN_CHECK(k >= 1 && k <= x.size(dim), "kthvalue: k = ", k, " is out of range for dimension ", dim,
             " of size ", x.size(dim), " (tensor shape ", fmt(x.shape()), "); k counts from 1");
  const Tensor smallest = ranked_positions("kthvalue", x, dim, k, /*largest=*/false);
  return picked(x, dim, smallest.narrow(dim, k - 1, 1), keepdim);
}

namespace {
// The dimension an order statistic runs along, checked: x has one and it is not empty.
std::int64_t checked_line(const char* op, const Tensor& x, std::int64_t dim_in, const char* what) {
  KILN_CHECK(x.dim() >= 1, op, ": needs a tensor with at least one dimension, not a 0-d one");
  const std::int64_t dim = wrap_dim(dim_in, x.dim(), op);
  KILN_CHECK(x.size(dim) >= 1, op, ": dimension ", dim, " of shape ", fmt(x.shape()),
             " is empty; there is no ", what);
  return dim;
}

// The lower median's place in the ascending order (NaN sorted last): of the line's numbers
// alone with skip_nan (0 when there are none), else the first NaN's in a line with NaN.
ValuesIndices lower_median(const char* op, const Tensor& x, std::int64_t dim_in, bool keepdim,
                           bool skip_nan) {
  const std::int64_t dim = checked_line(op, x, dim_in, "median");
  const std::int64_t n = x.size(dim);
  const Tensor order = ranked_positions(op, x, dim, n, /*largest=*/false);
  const Tensor nans = sum(isnan(x).to(kInt64), {dim}, /*keepdim=*/true);
  const Tensor place =
      skip_nan ? clamp(floor((static_cast<double>(n - 1) - nans.to(kFloat64)) * 0.5), 0.0,
                       static_cast<double>(n - 1))
                     .to(kInt64)
               : where(nans > 0.0, static_cast<double>(n) - nans, scalar_like(nans, double((n - 1) / 2)));
  return picked(x, dim, gather(order, dim, place), keepdim);
}
}  // namespace

ValuesIndices median(const Tensor& x, std::int64_t dim, bool keepdim) {
  return lower_median("median", x, dim, keepdim, false);
}
Tensor median(const Tensor& x) { return median(x.reshape({x.numel()}), 0).values; }
ValuesIndices nanmedian(const Tensor& x, std::int64_t dim, bool keepdim) {
  return lower_median("nanmedian", x, dim, keepdim, true);
}
Tensor nanmedian(const Tensor& x) { return nanmedian(x.reshape({x.numel()}), 0).values; }

ValuesIndices mode(const Tensor& x, std::int64_t dim_in, bool keepdim) {
  const std::int64_t dim = checked_line("mode", x, dim_in, "mode");
  const std::int64_t n = x.size(dim);
  // Runs of equal values in the stable ascending order: each run's length, the first
  // longest (the smallest value), and its last place (the value's last position).
  const ValuesIndices sorted = sort(x.detach(), dim);
  const Tensor& v = sorted.values;
  Tensor starts = ones(v.narrow(dim, 0, 1).shape(), kFloat64, x.device());
  if (n > 1) starts = cat({starts, ne(v.narrow(dim, 1, n - 1), v.narrow(dim, 0, n - 1)).to(kFloat64)}, dim);
  const Tensor run = (cumsum(starts, dim) - 1.0).to(kInt64);
  const Tensor lengths =
      scatter_add(zeros(v.shape(), kFloat64, x.device()), dim, run, ones(v.shape(), kFloat64, x.device()));
  const Tensor longest = argmax(lengths, dim, /*keepdim=*/true);
  const Tensor last = (gather(cumsum(lengths, dim), dim, longest) - 1.0).to(kInt64);
  return picked(x, dim, gather(sorted.indices, dim, last), keepdim);
}

namespace {

// quantile's levels as host numbers, checked: a 0-d or 1-D floating tensor.
std::vector<double> quantile_levels(const char* op, const Tensor& q) {
  KILN_CHECK(q.defined(), op, ": q is an undefined tensor; pass a number or a 0-d or 1-D tensor of levels");
  KILN_CHECK(q.dim() <= 1, op, ": q must be a number, a 0-d or a 1-D tensor of levels, not one of shape ",
             fmt(q.shape()));
  KILN_CHECK(is_floating(q.dtype()), op, ": q must be a floating tensor, not ", dtype_name(q.dtype()));
  return q.to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>();
}

// The quantiles of x along dim at each level, stacked in front when `stacked` (a 1-D q).
// As torch: the line sorted (NaN last), the place r = q (count - 1) computed in x's dtype
// (count: the line's length, or with skip_nan its numbers), a line whose result must be NaN
// sent to its last place (a NaN), then the entries at floor r and ceil r.
Tensor quantiles(const char* op, const Tensor& x, const std::vector<double>& levels, bool stacked,
                 std::optional<std::int64_t> dim_in, bool keepdim, QuantileInterpolation how, bool skip_nan) {
  detail::check_floating(op, x);
  for (const double level : levels) KILN_CHECK(level >= 0 && level <= 1, op, ": q = ", level, " must be in [0, 1]");
  if (!dim_in) {
    Tensor all = quantiles(op, x.flatten(), levels, stacked, 0, false, how, skip_nan);
    if (!keepdim) return all;
    Shape ones_shape(static_cast<std::size_t>(x.dim()), 1);
    if (stacked) ones_shape.insert(ones_shape.begin(), all.size(0));
    return all.reshape(ones_shape);
  }
  const std::int64_t dim = checked_line(op, x, *dim_in, "quantile");
  const std::int64_t n = x.size(dim);
  if (levels.empty()) {  // a 1-D q without levels: no quantiles, in the layout of some
    Shape shape = x.shape();
    if (keepdim)
      shape[static_cast<std::size_t>(dim)] = 1;
    else
      shape.erase(shape.begin() + dim);
    shape.insert(shape.begin(), 0);
    return zeros(shape, x.dtype(), x.device());
  }
  const Tensor sorted = sort(x, dim).values;
  const DType place_type = x.dtype() == kFloat64 ? kFloat64 : kFloat32;
  const Tensor nans = isnan(x.detach());
  Tensor last_place;  // where the place must be the line's last (its result is NaN)
  Tensor count_less_one;
  if (skip_nan) {
    count_less_one = (static_cast<double>(n - 1) - sum(nans.to(kInt64), {dim}, true)).to(place_type);
    last_place = count_less_one < 0.0;
  } else {
    count_less_one =
        full(sorted.narrow(dim, 0, 1).shape(), static_cast<double>(n - 1), place_type, x.device());
    last_place = any(nans, {dim}, /*keepdim=*/true);
  }
  std::vector<Tensor> outs;
  outs.reserve(levels.size());
  for (const double level : levels) {
    Tensor place = count_less_one * full({}, level, place_type, x.device());
    place = where(last_place, static_cast<double>(n - 1), place);
    switch (how) {
      case QuantileInterpolation::lower:
        place = floor(place);
        break;
      case QuantileInterpolation::higher:
        place = ceil(place);
        break;
      case QuantileInterpolation::nearest:
        place = round(place);
        break;
      default:
        break;
    }
    const Tensor below_place = place.to(kInt64);
    Tensor out = gather(sorted, dim, below_place);
    if (how == QuantileInterpolation::linear || how == QuantileInterpolation::midpoint) {
      const Tensor above = gather(sorted, dim, ceil(place).to(kInt64));
      out = how == QuantileInterpolation::midpoint ? lerp(out, above, 0.5)
                                                   : lerp(out, above, place - below_place.to(place_type));
    }
    outs.push_back(keepdim ? out : out.squeeze(dim));
  }
  return stacked ? stack(outs, 0) : outs.front();
}

}  // namespace

Tensor quantile(const Tensor& x, double q, std::optional<std::int64_t> dim, bool keepdim,
                QuantileInterpolation interpolation) {
  return quantiles("quantile", x, {q}, false, dim, keepdim, interpolation, false);
}
Tensor quantile(const Tensor& x, const Tensor& q, std::optional<std::int64_t> dim, bool keepdim,
                QuantileInterpolation interpolation) {
  return quantiles("quantile", x, quantile_levels("quantile", q), q.dim() == 1, dim, keepdim, interpolation,
                   false);
}
Tensor nanquantile(const Tensor& x, double q, std::optional<std::int64_t> dim, bool keepdim,
                   QuantileInterpolation interpolation) {
  return quantiles("nanquantile", x, {q}, false, dim, keepdim, interpolation, true);
}
Tensor nanquantile(const Tensor& x, const Tensor& q, std::optional<std::int64_t> dim, bool keepdim,
                   QuantileInterpolation interpolation) {
  return quantiles("nanquantile", x, quantile_levels("nanquantile", q), q.dim() == 1, dim, keepdim,
                   interpolation, true);
}

}  // namespace kiln
