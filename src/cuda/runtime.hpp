// Internal: device memory and copies for the CUDA backend. Defined in
// runtime.cpp when kiln is built with CUDA, in no_cuda.cpp otherwise (where
// every entry point explains that the build has no GPU support).
#pragma once

#include <cstddef>
#include <string>

#include "kernels/cuda/cuda_kernels.hpp"  // IndexReport, ReportSlot
#include "kiln/core/device.hpp"

namespace kiln::detail {

// A block of at least `bytes` on GPU `device` from the caching allocator.
void* cuda_allocate(std::size_t bytes, int device);
// Gives a block back to the cache; `bytes` is the size that was asked for.
void cuda_release(void* p, std::size_t bytes, int device);
// Copies `bytes` between any two of host and device memory. A copy to the host
// returns when the data has arrived (after every kernel queued before it).
void cuda_copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
// Where a kernel reports bad input without the host waiting (cuda_kernels::ReportSlot):
// the slot for `describe` on `device`, made on first use. `describe` writes the
// Error's message from what was found (device_reports.cpp).
using ReportMessage = std::string (*)(const cuda_kernels::IndexReport& found);
cuda_kernels::ReportSlot cuda_report_slot(int device, ReportMessage describe);
// Throws what kernels on `device` reported since the last call, if anything; for
// when the queue has drained (after a copy to the host, cuda::synchronize()).
void cuda_throw_reports(int device);
// Makes `device` current on this thread (kernels launch on the current device).
void cuda_set_device(int device);
// Opens cuBLAS and cuBLASLt (loaded on first use, not linked) and says what went
// wrong, or "" when both are usable. Without the CUDA backend: why there is none.
std::string cublas_load_problem();

}  // namespace kiln::detail
