#include "kiln/core/storage.hpp"

#include <cstdlib>
#include <new>

#include "kiln/core/error.hpp"

namespace kiln {

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes) {
  constexpr std::size_t kAlign = 64;  // one cache line; what AVX-512 loads like best
  const std::size_t rounded = (nbytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  KILN_CHECK(p != nullptr, "Storage: out of memory allocating ", nbytes, " bytes");
  return std::shared_ptr<Storage>(new Storage(p, nbytes, [](void* q) { std::free(q); }));
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t nbytes,
                                         std::function<void(void*)> release) {
  return std::shared_ptr<Storage>(new Storage(data, nbytes, std::move(release)));
}

Storage::~Storage() {
  if (release_) release_(data_);
}

}  // namespace kiln
