#include "kiln/core/storage.hpp"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "kiln/core/error.hpp"
#include "src/cuda/runtime.hpp"

namespace kiln {

namespace {

constexpr std::size_t kAlign = 64;  // one cache line; what AVX-512 loads like best

// Large blocks freed by tensors are kept for reuse by the next allocation of the
// same size: a training step allocates the same shapes every time, and handing
// those pages back to the OS only to fault them in again costs more than the
// arithmetic on them. glibc does that from 128 KiB up (its mmap threshold, and the free
// space at the top of its heap that it trims), so blocks from 64 KiB are kept: a
// 1000 x 32 float activation, 125 KiB, would otherwise fault its pages in every step.
// Smaller blocks go straight to malloc, which serves them from its bins.
class BlockCache {
public:
  static constexpr std::size_t kMinCached = 64 << 10;
  static constexpr std::size_t kMaxCachedBytes = std::size_t(1) << 30;

  void* get(std::size_t bytes) {
    if (bytes >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, bytes);
    if (!p && bytes >= kMinCached) {  // out of memory: give the cache back and retry
      release_all();
      p = std::aligned_alloc(kAlign, bytes);
    }
    return p;
  }

  void put(void* p, std::size_t bytes) {
    if (bytes >= kMinCached) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + bytes <= kMaxCachedBytes) {
        free_[bytes].push_back(p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [_, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  std::size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t cached_ = 0;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: tensors may outlive static destructors
  return *c;
}

}  // namespace

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, Device device) {
  if (device.is_cuda()) {
    const int index = device.index;
    void* p = detail::cuda_allocate(nbytes, index);
    return std::shared_ptr<Storage>(
        new Storage(p, nbytes, [nbytes, index](void* q) { detail::cuda_release(q, nbytes, index); }, device));
  }
  const std::size_t rounded = std::max(kAlign, (nbytes + kAlign - 1) / kAlign * kAlign);
  void* p = cache().get(rounded);
  KILN_CHECK(p != nullptr, "Storage: out of memory allocating ", nbytes, " bytes");
  return std::shared_ptr<Storage>(new Storage(p, nbytes, [rounded](void* q) { cache().put(q, rounded); }));
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t nbytes,
                                         std::function<void(void*)> release) {
  return std::shared_ptr<Storage>(new Storage(data, nbytes, std::move(release)));
}

Storage::~Storage() {
  if (release_) release_(data_);
}

std::size_t cached_memory_bytes() { return cache().cached_bytes(); }
void release_cached_memory() { cache().release_all(); }

}  // namespace kiln
