// Internal: what op code needs to hand tensors to the CUDA kernel table.
// Plain C++ (no CUDA headers), compiled in every build; in a CPU-only build no
// tensor can live on a GPU, so these are never reached there.
#pragma once

#include <initializer_list>

#include "kernels/cuda/cuda_kernels.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln::graph {
class DeviceCsr;
}

namespace kiln::detail {

// The kernels' element type for `dtype` (block formats have none: an error naming `op`).
cuda_kernels::Scalar cuda_scalar(DType dtype, const char* op);
// Makes t's GPU the current device and returns the kernel table.
const cuda_kernels::Table& cuda_for(const Tensor& t);
// An n-d loop over `shape` whose operands have these strides (output first).
cuda_kernels::Loop cuda_loop(const Shape& shape, std::initializer_list<const Strides*> strides, const char* op);
// A 0-d tensor of `value` on GPU `device`, shared by every op that asks for the same
// value and dtype there (a small cache), so a constant operand costs no fill kernel
// once warm. Read-only: ops take it as a broadcast operand and never write it.
Tensor cuda_constant(double value, DType dtype, int device);
// Drops the cached constants (cuda::empty_cache(), so that their blocks go back too).
void cuda_drop_constants();
// Typed device pointer to t's first element.
template <class T = void>
T* dptr(const Tensor& t) {
  return static_cast<T*>(t.device_data_ptr());
}
// The same, or null for an undefined tensor (scratch a kernel does not need).
template <class T = void>
T* dptr_or_null(const Tensor& t) {
  return t.defined() ? dptr<T>(t) : nullptr;
}

// The row structure of a DeviceCsr on a GPU, for the sparse kernels.
cuda_kernels::CsrRows cuda_csr_rows(const graph::DeviceCsr& a);
// The scratch the sparse kernels need for a's long rows (index_math.hpp's
// csr_chunk_scratch_slots(nnz, columns, values) of `dtype`), or an undefined tensor
// when a has none.
Tensor cuda_csr_scratch(const graph::DeviceCsr& a, std::int64_t columns, std::int64_t values, DType dtype);

}  // namespace kiln::detail
