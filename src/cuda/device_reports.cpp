// Bad input found by kernels, reported at the host's next read-back.
//
// A kernel that meets, say, a class index out of range must not read through it,
// and the call must still fail. Checking on the host would make it wait for the GPU
// at every call (one more copy back per training step). Instead the kernel counts
// the index in an IndexReport in device memory and sets this device's flag in
// page-locked host memory that is mapped into the GPU's address space. Each copy to
// the host already waits for the queue, so right after it the host reads the flag:
// a load from its own memory, no transfer. Only when the flag is up does it copy the
// reports back, clear them and throw, naming the op that found the bad input.
#include <atomic>
#include <mutex>
#include <vector>

#include "kiln/core/cuda.hpp"
#include "src/cuda/check.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln::detail {

namespace {

using cuda_kernels::IndexReport;

class Reports {
 public:
  cuda_kernels::ReportSlot slot(int device, ReportMessage describe) {
    std::lock_guard<std::mutex> lock(mutex_);
    make_flags();
    std::vector<Slot>& slots = slots_[static_cast<std::size_t>(device)];
    for (const Slot& s : slots)
      if (s.describe == describe) return {s.report, device_flags_[static_cast<std::size_t>(device)]};
    cuda_set_device(device);
    void* p = nullptr;
    KILN_CUDA_CHECK(cudaMalloc(&p, sizeof(IndexReport)));
    KILN_CUDA_CHECK(cudaMemset(p, 0, sizeof(IndexReport)));
    slots.push_back({describe, static_cast<IndexReport*>(p)});
    return {slots.back().report, device_flags_[static_cast<std::size_t>(device)]};
  }

  void throw_pending(int device) {
    volatile unsigned int* flags = host_flags_.load(std::memory_order_acquire);
    if (flags == nullptr || flags[device] == 0) return;  // the common case: one load
    std::string message;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      flags[device] = 0;
      cuda_set_device(device);
      unsigned long long more = 0;
      for (const Slot& s : slots_[static_cast<std::size_t>(device)]) {
        IndexReport found{};
        KILN_CUDA_CHECK(cudaMemcpy(&found, s.report, sizeof found, cudaMemcpyDeviceToHost));
        if (found.count == 0) continue;
        KILN_CUDA_CHECK(cudaMemset(s.report, 0, sizeof found));
        if (message.empty()) message = s.describe(found);
        else more += found.count;
      }
      if (message.empty()) return;
      if (more > 0) message += concat(" (and ", more, " bad values in other ops)");
    }
    throw Error(concat(message, "; found on cuda:", device,
                       " by a kernel that ran after the call returned (GPU work is asynchronous), "
                       "and reported at this copy to the host"));
  }

 private:
  struct Slot {
    ReportMessage describe;
    IndexReport* report;
  };

  // One flag per device in mapped page-locked memory, and its address on each device.
  void make_flags() {
    if (host_flags_.load(std::memory_order_relaxed) != nullptr) return;
    const int n = cuda::device_count();
    void* host = nullptr;
    KILN_CUDA_CHECK(cudaHostAlloc(&host, sizeof(unsigned int) * static_cast<std::size_t>(n),
                                  cudaHostAllocMapped | cudaHostAllocPortable));
    auto* flags = static_cast<unsigned int*>(host);
    for (int d = 0; d < n; ++d) flags[d] = 0;
    device_flags_.assign(static_cast<std::size_t>(n), nullptr);
    for (int d = 0; d < n; ++d) {
      cuda_set_device(d);
      void* on_device = nullptr;
      KILN_CUDA_CHECK(cudaHostGetDevicePointer(&on_device, host, 0));
      device_flags_[static_cast<std::size_t>(d)] = static_cast<unsigned int*>(on_device) + d;
    }
    slots_.resize(static_cast<std::size_t>(n));
    host_flags_.store(flags, std::memory_order_release);
  }

  std::mutex mutex_;
  std::atomic<unsigned int*> host_flags_{nullptr};
  std::vector<unsigned int*> device_flags_;  // the flags as each device addresses them
  std::vector<std::vector<Slot>> slots_;     // per device
};

Reports& reports() {
  static Reports* r = new Reports;  // never destroyed: kernels may report until exit
  return *r;
}

}  // namespace

cuda_kernels::ReportSlot cuda_report_slot(int device, ReportMessage describe) {
  return reports().slot(device, describe);
}

void cuda_throw_reports(int device) { reports().throw_pending(device); }

}  // namespace kiln::detail
