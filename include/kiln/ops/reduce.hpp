// Reductions over chosen dimensions, and softmax.
// `dims` empty means all dimensions. With keepdim the reduced dimensions stay, with size 1.
#pragma once

#include <optional>
#include <vector>

#include "kiln/core/tensor.hpp"

namespace kiln {

using Dims = std::vector<std::int64_t>;

// Integer inputs are summed as int64.
Tensor sum(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Variance with Bessel's correction by default (correction = 1), like torch.var.
Tensor var(const Tensor& x, const Dims& dims = {}, bool keepdim = false, int correction = 1);
// sqrt(var); its gradient is 0 where std is 0 (a slice whose elements are all equal), as torch.std.
Tensor std(const Tensor& x, const Dims& dims = {}, bool keepdim = false, int correction = 1);
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim = false);
// The largest / smallest entry over `dims` (torch.amax / torch.amin): values only, and the
// gradient split evenly among the entries equal to it (max(x, dim) gives it to the first).
// NaN wins; an infinite or NaN extreme passes no gradient. An empty slice is an error.
// Integer tensors too.
Tensor amax(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// sum and mean that skip NaN entries (torch.nansum / torch.nanmean: a slice of NaN only
// has sum 0 and mean NaN); the gradient is 0 at the NaN entries.
Tensor nansum(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor nanmean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// The number of nonzero entries over `dims` (NaN counts), int64 (torch.count_nonzero).
Tensor count_nonzero(const Tensor& x, const Dims& dims = {});
// The p-norm over `dims` (torch.linalg.vector_norm): (sum |x|^p)^(1/p) for p >= 1,
// max |x| for p = INFINITY. Differentiable; the gradient is 0 where the norm is 0.
Tensor norm(const Tensor& x, double p = 2, const Dims& dims = {}, bool keepdim = false);
// x / max(||x||_p, eps) along `dim` (torch.nn.functional.normalize): rows of unit length.
Tensor normalize(const Tensor& x, double p = 2, std::int64_t dim = 1, double eps = 1e-12);
// Each slice of x at an index of `dim` (the sub-tensor x.select(dim, i)) whose p-norm
// exceeds maxnorm scaled down to it, by maxnorm / (norm + 1e-7); the others kept
// (torch.renorm, e.g. a max-norm constraint on embedding rows). p >= 1 or INFINITY,
// maxnorm >= 0. Differentiable, through the norm too.
Tensor renorm(const Tensor& x, double p, std::int64_t dim, double maxnorm);
// x1 · x2 / max(||x1|| ||x2||, eps) along `dim` of the inputs' broadcast shape, which loses
// that dimension (torch.nn.functional.cosine_similarity). Differentiable in both.
Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, std::int64_t dim = 1, double eps = 1e-8);

// Whether any / every entry is nonzero (NaN counts as nonzero) over `dims`, as uint8
// (torch.any / torch.all): an empty reduction is 0 for any, 1 for all. Any dtype.
Tensor any(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const Dims& dims = {}, bool keepdim = false);

// Max/min along one dimension: values (differentiable) and int64 indices of the
// first occurrence.
struct ValuesIndices {
  Tensor values;
  Tensor indices;
};
ValuesIndices max(const Tensor& x, std::int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements (0-d)
Tensor min(const Tensor& x);
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim = false);
// The k largest (largest = false: smallest) entries along `dim`, best first, and their
// int64 positions (torch.topk): a NaN counts as larger than any number, and of equal
// values the lower position comes first. The values are differentiable (the gradient
// goes to the picked positions); on a GPU the positions never leave it.
ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t dim = -1, bool largest = true);
// Every entry along `dim` in order (torch.sort / argsort, stable): ascending, or
// descending, with NaN ranked above every number (last ascending, first descending) and
// equal values kept in their order. The values are differentiable.
ValuesIndices sort(const Tensor& x, std::int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, std::int64_t dim = -1, bool descending = false);
// Order statistics along `dim`, values differentiable (a gather at the picked position):
//   kthvalue  the k-th smallest (k from 1) and its position (torch.kthvalue; NaN ranks
//             above every number)
//   median    the lower median, the ((n - 1) / 2 + 1)-th smallest (torch.median); a line
//             holding NaN gives NaN, at its first NaN's position
//   quantile  the q-quantile, q in [0, 1], read at place q (n - 1) of the sorted line
//             (torch.quantile); NaN where a line holds NaN; over all entries without dim.
//             See quantile's declaration below for the ways between two entries.
ValuesIndices kthvalue(const Tensor& x, std::int64_t k, std::int64_t dim = -1, bool keepdim = false);
ValuesIndices median(const Tensor& x, std::int64_t dim, bool keepdim = false);
// The lower median of all entries (torch.median()); NaN when any entry is NaN.
Tensor median(const Tensor& x);
// median skipping NaN (torch.nanmedian): the lower median of each line's numbers, NaN
// (at the line's first NaN) only where a line holds nothing else.
ValuesIndices nanmedian(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor nanmedian(const Tensor& x);
// The most frequent value along `dim` and a position of it (torch.mode): of values equally
// frequent the smallest, at its last position. Each NaN counts as a value of its own.
// The values are differentiable (a gather at that position).
ValuesIndices mode(const Tensor& x, std::int64_t dim = -1, bool keepdim = false);
// How quantile reads a place r = q (n - 1) that falls between the sorted entries s[floor r]
// and s[ceil r] (torch's `interpolation`): linear, s[floor r] + (r - floor r) (s[ceil r] -
// s[floor r]) (the default); lower, s[floor r]; higher, s[ceil r]; midpoint, their mean;
// nearest, s[round r], halves to the even place. The place is computed in x's dtype (q
// rounded to float32 for a float32 x), as torch does.
enum class QuantileInterpolation { linear, lower, higher, midpoint, nearest };
// q is a number, or a 0-d or 1-D floating tensor of levels in [0, 1] (read on the host);
// with a 1-D q the result has one leading dimension with a quantile per level, before the
// reduced shape (torch's layout). Differentiable in x (the gradient goes to the one or
// two entries each quantile is read from). nanquantile skips NaN: each line's quantile of
// its numbers alone, at q (count - 1), NaN only for a line of NaN (torch.nanquantile).
Tensor quantile(const Tensor& x, double q, std::optional<std::int64_t> dim = std::nullopt,
                bool keepdim = false, QuantileInterpolation interpolation = QuantileInterpolation::linear);
Tensor quantile(const Tensor& x, const Tensor& q, std::optional<std::int64_t> dim = std::nullopt,
                bool keepdim = false, QuantileInterpolation interpolation = QuantileInterpolation::linear);
Tensor nanquantile(const Tensor& x, double q, std::optional<std::int64_t> dim = std::nullopt,
                   bool keepdim = false, QuantileInterpolation interpolation = QuantileInterpolation::linear);
Tensor nanquantile(const Tensor& x, const Tensor& q, std::optional<std::int64_t> dim = std::nullopt,
                   bool keepdim = false, QuantileInterpolation interpolation = QuantileInterpolation::linear);
// Running sums along `dim` (torch.cumsum): out[.., j, ..] = x[.., 0, ..] + ... + x[.., j, ..],
// summed in double for floating types; integers sum as int64. Differentiable (the
// gradient is the running sum of the gradient from the far end).
Tensor cumsum(const Tensor& x, std::int64_t dim);
// The trapezoidal rule along `dim` (torch.trapezoid / cumulative_trapezoid): the area under
// y with samples dx apart, or at the points x (1-D, one per sample, or y's shape); the
// cumulative form gives the area up to each sample after the first (one fewer along dim).
// Differentiable in y and x.
Tensor trapezoid(const Tensor& y, double dx = 1.0, std::int64_t dim = -1);
Tensor trapezoid(const Tensor& y, const Tensor& x, std::int64_t dim = -1);
Tensor cumulative_trapezoid(const Tensor& y, double dx = 1.0, std::int64_t dim = -1);
Tensor cumulative_trapezoid(const Tensor& y, const Tensor& x, std::int64_t dim = -1);
// Running products along `dim` (torch.cumprod), in double for floating types; integers
// multiply as int64. Differentiable, exactly where entries are 0 (no division by them).
Tensor cumprod(const Tensor& x, std::int64_t dim);
// The running largest / smallest entry along `dim` and the int64 position it came from
// (torch.cummax / cummin): of equal entries the later position; a NaN, once met, is
// the value from there on (at the last NaN's position). Any dtype but q4_0, kept.
// Differentiable: each output's gradient goes to the position it came from.
ValuesIndices cummax(const Tensor& x, std::int64_t dim);
ValuesIndices cummin(const Tensor& x, std::int64_t dim);
// Running log(exp(x_0) + ... + exp(x_j)) along `dim` (torch.logcumsumexp), one logaddexp
// per step in double, so neither large nor very negative entries overflow or vanish.
// float32 and float64; differentiable.
Tensor logcumsumexp(const Tensor& x, std::int64_t dim);
// The product of every element (a 0-d tensor), or along `dim` (torch.prod), in double
// for floating types; integers multiply as int64; an empty product is 1. Differentiable:
// each element's gradient is the product of the others in its line, taken without
// dividing by it, so it stays exact where some elements are 0.
Tensor prod(const Tensor& x);
Tensor prod(const Tensor& x, std::int64_t dim, bool keepdim = false);

Tensor softmax(const Tensor& x, std::int64_t dim);
Tensor log_softmax(const Tensor& x, std::int64_t dim);

// var (std) and mean over the same dims in one call (torch.var_mean / std_mean), as
// {var or std, mean}; differentiable.
struct SpreadMean {
  Tensor spread, mean;
};
SpreadMean var_mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false, int correction = 1);
SpreadMean std_mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false, int correction = 1);
// The smallest and largest entries, over all or along `dim` (torch.aminmax); differentiable
// as amin and amax (ties share the gradient).
struct MinMax {
  Tensor min, max;
};
MinMax aminmax(const Tensor& x, std::optional<std::int64_t> dim = std::nullopt, bool keepdim = false);

}  // namespace kiln
