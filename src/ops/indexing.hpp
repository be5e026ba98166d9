// Internal: indexing pieces that other ops share (indexing.cpp).
#pragma once

#include "kiln/core/tensor.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln::detail {

// `index` (int64 or int32) as a contiguous int64 tensor on its device: the caller's
// own storage when it already is one (no copy), so a backward rule that keeps it
// lists it in attach_grad_fn's `saved` (an in-place change is then an Error).
Tensor int64_index(const Tensor& index);

// gather(x, dim, index) with x on a GPU and `index` int64 on the same GPU, read only
// there: an entry outside [-n, n) (without `wrap`, negative ones are bad too) reads 0
// and `describe` turns the kernel's report into the Error thrown at the next copy to
// the host. The backward reads `index` again: pass one of your own.
Tensor gather_cuda(const Tensor& x, std::int64_t dim, const Tensor& index, bool wrap, ReportMessage describe);

}  // namespace kiln::detail
