// Devices on any machine: naming them, asking what is there, and the errors a
// GPU request gives where none can serve it. (GPU parity: tests/cuda/.)
#include <doctest/doctest.h>

#include "kiln/kiln.hpp"

namespace kiln::test {

TEST_CASE("Device::parse reads cpu, cuda and cuda:N and rejects the rest") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:3") == Device::cuda(3));
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", "CPU", ""})
    CHECK_THROWS_WITH_AS(Device::parse(bad), doctest::Contains("is not one of cpu, cuda, cuda:N"), Error);
}

TEST_CASE("the CUDA queries agree with each other") {
  CHECK(cuda::is_available() == (cuda::device_count() > 0));
  if (!cuda::is_built()) CHECK(cuda::device_count() == 0);
  const cuda::MemoryStats none = cuda::memory_stats(0);
  CHECK(none.reserved_bytes >= none.allocated_bytes);
  cuda::synchronize();  // a no-op without GPUs, never an error
  cuda::empty_cache();
}

TEST_CASE("asking for a GPU where none is visible is a clear error") {
  if (cuda::is_available()) return;  // covered by the CUDA tests on a machine with a GPU
  const Tensor x = ones({2, 2});
  const char* expected = cuda::is_built() ? "does not exist" : "no CUDA backend";
  CHECK_THROWS_WITH_AS(x.to(Device::cuda()), doctest::Contains(expected), Error);
  CHECK_THROWS_WITH_AS(zeros({3}, kFloat32, Device::cuda()), doctest::Contains(expected), Error);
  CHECK(x.to(Device::cpu()).shares_storage(x));  // moving to where it already is copies nothing
}

}  // namespace kiln::test
