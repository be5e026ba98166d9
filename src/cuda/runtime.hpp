// Internal: device memory and copies for the CUDA backend. Defined in
// runtime.cpp when kiln is built with CUDA, in no_cuda.cpp otherwise (where
// every entry point explains that the build has no GPU support).
#pragma once

#include <cstddef>
#include <string>

#include "kiln/core/device.hpp"

namespace kiln::detail {

// A block of at least `bytes` on GPU `device` from the caching allocator.
void* cuda_allocate(std::size_t bytes, int device);
// Gives a block back to the cache; `bytes` is the size that was asked for.
void cuda_release(void* p, std::size_t bytes, int device);
// Copies `bytes` between any two of host and device memory. A copy to the host
// returns when the data has arrived (after every kernel queued before it).
void cuda_copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
// Makes `device` current on this thread (kernels launch on the current device).
void cuda_set_device(int device);
// Opens cuBLAS and cuBLASLt (loaded on first use, not linked) and says what went
// wrong, or "" when both are usable. Without the CUDA backend: why there is none.
std::string cublas_load_problem();

}  // namespace kiln::detail
