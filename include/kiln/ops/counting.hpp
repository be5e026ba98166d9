// Placing values among sorted ones and counting them: searchsorted, bucketize, bincount,
// histc, unique. None is differentiable but bincount's weights; the results are int64
// positions or counts (histc: counts in x's dtype, as PyTorch's).
#pragma once

#include "kiln/core/tensor.hpp"

namespace kiln {

// Where each value would go in a sorted sequence to keep it sorted (torch.searchsorted):
// the number of entries that rank before it, or with `right` that do not rank after it
// (so equal entries come before it). sorted_sequence is 1-D, shared by every value, or
// (..., M) with values (..., N) of the same leading dims, a row per row. A NaN ranks
// above every number. Same dtype for both (any but q4_0); int64 out, values' shape.
Tensor searchsorted(const Tensor& sorted_sequence, const Tensor& values, bool right = false);
// The bucket of each entry of x among 1-D sorted boundaries (torch.bucketize):
// searchsorted(boundaries, x, right).
Tensor bucketize(const Tensor& x, const Tensor& boundaries, bool right = false);
// How often each value 0, 1, ... occurs in a 1-D tensor of non-negative integers
// (torch.bincount): max(x) + 1 bins, at least minlength; with weights (x's length,
// floating) the sum of each value's weights instead, differentiable in the weights.
// int64 counts without weights. Reads max(x) back to the host (the output's length).
Tensor bincount(const Tensor& x, const Tensor& weights = Tensor(), std::int64_t minlength = 0);
// A histogram of x over `bins` equal bins spanning [min, max] (torch.histc): entries
// outside are left out, max falls in the last bin; min = max (both 0 by default) takes
// x's own extremes (read back to the host). Counts in x's dtype; floating x.
Tensor histc(const Tensor& x, std::int64_t bins = 100, double min = 0, double max = 0);
// The distinct entries of x, ascending (torch.unique(sorted=True, return_inverse=True,
// return_counts=True) over all entries): values (1-D), inverse (x's shape: each entry's
// place in values) and counts. Every NaN counts as distinct, last. Reads the number of
// distinct entries back to the host (the output's length).
struct Unique {
  Tensor values;
  Tensor inverse;
  Tensor counts;
};
Unique unique(const Tensor& x);
// The same without sorting (torch.unique_consecutive over all entries): each run of equal
// neighbours in x's row-major order becomes one value, [1 1 2 2 3 1 1 2] -> [1 2 3 1 2],
// with each entry's run and the runs' lengths.
Unique unique_consecutive(const Tensor& x);

// Whether each entry of `elements` occurs in test_elements (torch.isin): uint8 of
// elements' shape (invert: whether it does not). Same dtype for both; test_elements sorted
// once, then each entry placed by searchsorted. NaN is in nothing.
Tensor isin(const Tensor& elements, const Tensor& test_elements, bool invert = false);
// torch.argwhere: nonzero(x), the positions of the nonzero entries as (count, x.dim()).
Tensor argwhere(const Tensor& x);

}  // namespace kiln
