// The CUDA runtime side of kiln: device discovery, the caching allocator and copies.
//
// The allocator keeps freed blocks in per-device free lists keyed by size class
// and hands them to the next request of that class. Training allocates the same
// shapes every step, so after the first step cudaMalloc/cudaFree (which
// synchronize the device) are no longer called. All kiln kernels run in order on
// the default stream, so a block freed by the host can be reused by the next
// kernel without an event: the stream orders the old use before the new one.
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kiln/core/cuda.hpp"
#include "src/cuda/check.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln {

namespace {

// Requests round up to 512 bytes below 1 MiB, and to whole MiB above.
std::size_t size_class(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t(1) << 20;
  if (bytes < kLarge) return std::max(kSmall, (bytes + kSmall - 1) / kSmall * kSmall);
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

struct DevicePool {
  std::unordered_map<std::size_t, std::vector<void*>> free;
  cuda::MemoryStats stats;
};

class Allocator {
public:
  void* get(std::size_t bytes, int device) {
    const std::size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    DevicePool& pool = pool_for(device);
    ++pool.stats.allocations;
    void* p = nullptr;
    if (auto it = pool.free.find(cls); it != pool.free.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      ++pool.stats.cache_hits;
    } else {
      detail::cuda_set_device(device);
      cudaError_t status = cudaMalloc(&p, cls);
      if (status == cudaErrorMemoryAllocation) {  // out of memory: give the cache back and retry
        (void)cudaGetLastError();
        release_locked(device);
        status = cudaMalloc(&p, cls);
      }
      if (status != cudaSuccess) {
        (void)cudaGetLastError();
        throw Error(detail::concat("cuda:", device, ": out of memory allocating ", bytes, " bytes (",
                                   pool.stats.allocated_bytes, " bytes in use by tensors, ",
                                   pool.stats.reserved_bytes, " reserved): ", cudaGetErrorString(status),
                                   "; use smaller batches or free tensors you no longer need"));
      }
      pool.stats.reserved_bytes += cls;
    }
    pool.stats.allocated_bytes += cls;
    pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
    return p;
  }

  void put(void* p, std::size_t bytes, int device) {
    const std::size_t cls = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    DevicePool& pool = pool_for(device);
    pool.stats.allocated_bytes -= cls;
    pool.free[cls].push_back(p);
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [device, pool] : pools_) release_locked(device);
  }

  cuda::MemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    return pool_for(device).stats;
  }

  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    DevicePool& pool = pool_for(device);
    pool.stats.peak_allocated_bytes = pool.stats.allocated_bytes;
  }

private:
  DevicePool& pool_for(int device) { return pools_[device]; }

  void release_locked(int device) {
    DevicePool& pool = pool_for(device);
    detail::cuda_set_device(device);
    for (auto& [cls, list] : pool.free) {
      for (void* p : list) {
        cudaFree(p);  // a failure here leaves nothing to recover; the block is gone either way
        pool.stats.reserved_bytes -= cls;
      }
      list.clear();
    }
  }

  std::mutex mutex_;
  std::unordered_map<int, DevicePool> pools_;
};

Allocator& allocator() {
  static Allocator* a = new Allocator;  // never destroyed: tensors may outlive static destructors
  return *a;
}

void check_device_index(int device) {
  const int n = cuda::device_count();
  KILN_CHECK(device >= 0 && device < n, "cuda:", device, " does not exist: this process sees ", n,
             " GPU(s)", n == 0 ? " (no NVIDIA driver or device visible; use Device::cpu())" : "");
}

// True for host memory the CUDA runtime knows as page-locked (cudaHostAlloc or
// cudaHostRegister, perhaps by the user behind from_blob); when unsure, true.
bool page_locked(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();  // clear it, so the next check does not report it
    return true;
  }
  return a.type == cudaMemoryTypeHost;
}

}  // namespace

namespace cuda {

bool is_built() { return true; }

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {  // no driver or no device: not an error here
      (void)cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

bool is_available() { return device_count() > 0; }

CUstream_st* current_stream(int device) {
  check_device_index(device);
  return cudaStreamLegacy;  // what kernels launched with no stream, cuBLAS and cudaMemcpy use here
}

DeviceProperties device_properties(int device) {
  check_device_index(device);
  cudaDeviceProp p{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
  DeviceProperties out;
  out.name = p.name;
  out.compute_capability_major = p.major;
  out.compute_capability_minor = p.minor;
  out.multiprocessors = p.multiProcessorCount;
  out.total_memory_bytes = p.totalGlobalMem;
  out.l2_cache_bytes = static_cast<std::size_t>(p.l2CacheSize);
  return out;
}

void synchronize() {
  for (int d = 0; d < device_count(); ++d) {
    detail::cuda_set_device(d);
    KILN_CUDA_CHECK(cudaDeviceSynchronize());
    detail::cuda_throw_reports(d);
  }
}

MemoryStats memory_stats(int device) { return allocator().stats(device); }
void reset_peak_memory_stats(int device) { allocator().reset_peak(device); }
void empty_cache() {
  if (!is_available()) return;
  detail::cuda_drop_constants();  // the ops' cached constants (glue.cpp) give their blocks back first
  allocator().release_all();
}

}  // namespace cuda

namespace detail {

void* cuda_allocate(std::size_t bytes, int device) {
  check_device_index(device);
  return allocator().get(bytes, device);
}

void cuda_release(void* p, std::size_t bytes, int device) { allocator().put(p, bytes, device); }

void cuda_set_device(int device) {
  thread_local int current = -1;
  if (current == device) return;
  KILN_CUDA_CHECK(cudaSetDevice(device));
  current = device;
}

void cuda_copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (bytes == 0) return;
  cudaMemcpyKind kind = cudaMemcpyDeviceToDevice;
  if (src_device.is_cpu()) kind = dst_device.is_cpu() ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice;
  else if (dst_device.is_cpu()) kind = cudaMemcpyDeviceToHost;
  cuda_set_device(dst_device.is_cuda() ? dst_device.index : src_device.index);
  if (kind == cudaMemcpyHostToDevice && !page_locked(src)) {
    // From pageable memory the asynchronous copy returns once the bytes are staged,
    // so the caller may reuse its buffer at once, and the driver need not wait for
    // the kernels already queued first (cudaMemcpy always does). It still runs after
    // them, in stream order. Page-locked memory is not staged: it takes the plain copy.
    KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, cudaStreamLegacy));
    return;
  }
  // cudaMemcpy runs after the kernels queued on the default stream and returns
  // once a copy to host memory is complete; those kernels' reports of bad input
  // (device_reports.cpp) are then final.
  KILN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
  if (kind == cudaMemcpyDeviceToHost) cuda_throw_reports(src_device.index);
}

}  // namespace detail

}  // namespace kiln
