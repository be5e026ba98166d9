// Storage owns (or borrows) the bytes behind one or more tensors.
// Tensors that are views of each other share one Storage by reference count.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "kiln/core/device.hpp"

namespace kiln {

class Storage {
public:
  // Allocates `nbytes` of uninitialised memory: 64-byte aligned on the CPU, or on a
  // GPU through the CUDA caching allocator (see kiln/core/cuda.hpp).
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, Device device = Device::cpu());
  // Wraps memory the caller owns; `release` (may be empty) runs when the last tensor goes.
  static std::shared_ptr<Storage> borrow(void* data, std::size_t nbytes,
                                         std::function<void(void*)> release = {});

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Counts the in-place writes to these bytes (fill_, copy_, add_, +=, optimizer
  // steps). Autograd notes it when a backward rule saves a tensor, and refuses to
  // run that rule if it has changed since: the gradient would be computed from the
  // new values.
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

private:
  Storage(void* data, std::size_t nbytes, std::function<void(void*)> release, Device device = Device::cpu())
      : data_(data), nbytes_(nbytes), release_(std::move(release)), device_(device) {}
  void* data_;
  std::size_t nbytes_;
  std::function<void(void*)> release_;
  Device device_ = Device::cpu();
  std::atomic<std::uint64_t> version_{0};
};

// CPU blocks of 64 KiB and more are cached after use and handed to the next
// allocation of the same size (up to 1 GiB in all). These report and empty that cache.
std::size_t cached_memory_bytes();
void release_cached_memory();

}  // namespace kiln
