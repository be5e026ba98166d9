// Devices on any machine: naming them, asking what is there, and the errors a
// GPU request gives where none can serve it. (GPU parity: tests/cuda/.)
#include <doctest/doctest.h>

#include "kiln/kiln.hpp"
#include "src/core/tensor_internal.hpp"
#include "src/cuda/glue.hpp"
#include "src/cuda/runtime.hpp"

#include <fstream>
#include <string>

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
  CHECK_THROWS_WITH_AS(cuda::device_properties(0), doctest::Contains(expected), Error);
  CHECK_THROWS_WITH_AS(cuda::current_stream(0), doctest::Contains(expected), Error);
  const std::string info = build_info();
  CHECK(info.find(cuda::is_built() ? "CUDA: 0 GPU(s) visible)" : "CUDA: not built)") != std::string::npos);
  CHECK(x.to(Device::cpu()).shares_storage(x));  // moving to where it already is copies nothing
}

// cuBLAS is opened on first use, not linked: a process that never multiplies on a
// GPU does not pay for mapping it (~150 MB resident).
TEST_CASE("cuBLAS is loaded when first needed, and then resolves every entry point") {
  auto mapped = [] {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
      if (line.find("libcublas") != std::string::npos) return true;
    return false;
  };
  if (!cuda::is_available()) CHECK_FALSE(mapped());  // nothing here has multiplied on a GPU
  const std::string problem = detail::cublas_load_problem();
  if (!cuda::is_built()) {
    CHECK(problem.find("no CUDA backend") != std::string::npos);
    return;
  }
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(mapped());
}

// The loop descriptor every strided CUDA kernel reads (built on the host, so it is
// tested here on any machine; test_cuda_index_math.cpp checks the offsets it gives).
TEST_CASE("cuda_loop describes shapes and strides, with a dense fast path only when it holds") {
  const Tensor a = zeros({2, 3, 4});
  const Shape s = a.shape();
  const auto dense = detail::cuda_loop(s, {&a.strides(), &a.strides()}, "test");
  CHECK(dense.dense);
  CHECK(dense.numel == 24);
  CHECK(dense.ndim == 1);  // contiguous operands merge into one dimension
  CHECK(dense.shape[0] == 24);
  CHECK(dense.stride[1][0] == 1);

  const Tensor t = zeros({4, 3, 2}).permute({2, 1, 0});  // same shape, transposed strides
  CHECK_FALSE(detail::cuda_loop(s, {&a.strides(), &t.strides()}, "test").dense);

  const Tensor row = zeros({4});
  const Strides bs = detail::broadcast_strides(row, s);
  const auto bcast = detail::cuda_loop(s, {&a.strides(), &a.strides(), &bs}, "test");
  CHECK_FALSE(bcast.dense);
  CHECK(bcast.ndim == 2);  // (2, 3) merge, as the broadcast row repeats over both: (6, 4)
  CHECK(bcast.shape[0] == 6);
  CHECK(bcast.stride[2][0] == 0);
  CHECK(bcast.stride[2][1] == 1);

  const Tensor scalar = zeros({});
  const auto zero_d = detail::cuda_loop(scalar.shape(), {&scalar.strides()}, "test");
  CHECK(zero_d.numel == 1);
  CHECK(zero_d.dense);

  CHECK(detail::cuda_scalar(kInt8, "x") == cuda_kernels::Scalar::i8);
  CHECK_THROWS_WITH_AS(detail::cuda_scalar(kQ4_0, "relu"), doctest::Contains("relu: q4_0 tensors have no CUDA kernels"),
                       Error);
}

}  // namespace kiln::test
