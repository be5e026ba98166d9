// The CUDA backend's controls: is a GPU there, how much memory kiln holds on it.
//
//   if (kiln::cuda::is_available()) {
//     kiln::Tensor x = kiln::randn({1024, 1024}).to(kiln::Device::cuda());
//     kiln::Tensor y = kiln::matmul(x, x);          // cuBLAS, on the GPU
//     std::cout << y.to(kiln::Device::cpu());        // copies back only when asked
//   }
//
// A build without the CUDA toolkit (KILN_CUDA=OFF, or no nvcc found) answers
// is_built() == false and device_count() == 0; moving a tensor to a GPU is then
// a kiln::Error that says so. Kernels run on the device's default stream, in
// order; copies to the host wait for them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

// The CUDA runtime's stream type, declared here so that this header needs no CUDA
// headers: `CUstream_st*` is `cudaStream_t`.
struct CUstream_st;

namespace kiln::cuda {

// True when this build of kiln contains the CUDA backend.
bool is_built();
// GPUs visible to this process (0 without a driver, a device or the backend).
int device_count();
// True when is_built() and at least one GPU is visible.
bool is_available();
// Waits until every kernel and copy issued so far on every kiln device has finished.
void synchronize();

// The stream kiln queues device `device`'s kernels and copies on (the CUDA runtime's
// legacy default stream). Your own kernels and async copies launched on it run in
// order with kiln's work, before and after it:
//   my_kernel<<<blocks, threads, 0, kiln::cuda::current_stream()>>>(static_cast<float*>(x.device_data_ptr()));
// An error when `device` is not a visible GPU.
CUstream_st* current_stream(int device = 0);

// What one GPU is: its name and the sizes that matter when tuning or measuring on it.
struct DeviceProperties {
  std::string name;                       // e.g. "NVIDIA H200"
  int compute_capability_major = 0;       // 9 for Hopper (sm_90)
  int compute_capability_minor = 0;
  int multiprocessors = 0;                // streaming multiprocessors (SMs)
  std::size_t total_memory_bytes = 0;
  std::size_t l2_cache_bytes = 0;         // data that fits here is re-read without touching device memory
};
// The properties of GPU `device`; an error when no such GPU is visible.
DeviceProperties device_properties(int device = 0);

// Memory of one device as kiln's caching allocator sees it. Freed tensors keep
// their blocks cached for the next allocation of the same size class, so
// `reserved` (what kiln holds from the driver) is at least `allocated` (what
// live tensors use).
struct MemoryStats {
  std::size_t allocated_bytes = 0;
  std::size_t reserved_bytes = 0;
  std::size_t peak_allocated_bytes = 0;  // since start or reset_peak_memory_stats
  std::int64_t allocations = 0;          // allocation requests served
  std::int64_t cache_hits = 0;           // of those, served from the cache
};
MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Returns every cached (unused) block to the driver.
void empty_cache();

}  // namespace kiln::cuda
