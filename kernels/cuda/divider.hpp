// Division by a divisor fixed for a whole kernel launch, in plain C++ that nvcc and
// the host compiler both read: built on the host, passed to the kernel by value,
// and checked on the CPU by tests/test_cuda_index_math.cpp.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln::cuda_kernels {

// Division by a divisor fixed for a whole launch, as one high multiply, an add and a
// shift: a GPU has no divide instruction, and a 32-bit division takes about 20.
// With s = ceil(log2 d) and magic = floor(2^32 (2^s - d) / d) + 1, the quotient of
// n / d is (mulhi(n, magic) + n) >> s for every 0 <= n < 2^31, where the sum cannot
// overflow 32 bits. Built on the host, for divisors 1 .. 2^31 - 1.
class Divider32 {
 public:
  Divider32() = default;
  // A size of 0 (whose kernels launch no threads) builds as 1, so building never faults.
  explicit Divider32(std::int64_t d) : d_(static_cast<std::uint32_t>(d < 1 ? 1 : d)) {
    while ((std::uint64_t(1) << shift_) < std::uint64_t(d_)) ++shift_;
    magic_ = static_cast<std::uint32_t>(((std::uint64_t(1) << 32) * ((std::uint64_t(1) << shift_) - d_)) / d_ + 1);
  }
  KILN_HOST_DEVICE std::int32_t divisor() const { return static_cast<std::int32_t>(d_); }
  KILN_HOST_DEVICE std::int32_t div(std::int32_t n) const {
    const auto u = static_cast<std::uint32_t>(n);
#if defined(__CUDA_ARCH__)
    const std::uint32_t hi = __umulhi(u, magic_);
#else
    const auto hi = static_cast<std::uint32_t>((std::uint64_t(u) * magic_) >> 32);
#endif
    return static_cast<std::int32_t>((hi + u) >> shift_);
  }

 private:
  std::uint32_t d_ = 1, magic_ = 1, shift_ = 0;
};

// The same interface over plain 64-bit division, for sizes past 32 bits.
class Divider64 {
 public:
  Divider64() = default;
  explicit Divider64(std::int64_t d) : d_(d < 1 ? 1 : d) {}
  KILN_HOST_DEVICE std::int64_t divisor() const { return d_; }
  KILN_HOST_DEVICE std::int64_t div(std::int64_t n) const { return n / d_; }

 private:
  std::int64_t d_ = 1;
};

// The divider for index type I: Divider32 for int32, Divider64 for int64.
template <class I>
using DividerFor = std::conditional_t<std::is_same_v<I, std::int32_t>, Divider32, Divider64>;

}  // namespace kiln::cuda_kernels
