// Counter-based random numbers: number i of the stream `seed` is a hash of
// (seed, i), so any thread, on the CPU or the GPU, computes any part of a stream on
// its own, in any order, and a seed gives the same numbers on both. The GPU's rand
// and randn, and dropout's masks on either device, draw this way from one 64-bit seed
// taken from the default generator. Plain C++ that nvcc and the host compiler both read.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/divider.hpp"  // KILN_HOST_DEVICE

namespace kiln::cuda_kernels {

// The constants of the stream (the CPU's vector kernels draw with them too):
// counter i of stream `seed` is seed + kCounterStep * (i + 1), mixed by splitmix64's
// output function: xor-shift 30, times kMix1, xor-shift 27, times kMix2, xor-shift 31.
inline constexpr std::uint64_t kCounterStep = 0x9e3779b97f4a7c15ULL;
inline constexpr std::uint64_t kMix1 = 0xbf58476d1ce4e5b9ULL;
inline constexpr std::uint64_t kMix2 = 0x94d049bb133111ebULL;

// splitmix64's output function: a strong 64-bit mix of a counter.
KILN_HOST_DEVICE inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

// The i-th 64 random bits of the stream `seed`.
KILN_HOST_DEVICE inline std::uint64_t counter_bits(std::uint64_t seed, std::uint64_t i) {
  return mix64(seed + kCounterStep * (i + 1));
}

// The bits of precision of uniform numbers: number i is k * 2^-bits for the integer
// k = counter_bits(seed, i) >> (64 - bits), 24 bits for float and 53 for double.
template <class T>
inline constexpr int kUniformBits = std::is_same_v<T, float> ? 24 : 53;

// The i-th uniform number on [0, 1), in float or double (exactly representable).
template <class T>
KILN_HOST_DEVICE inline T counter_uniform(std::uint64_t seed, std::uint64_t i) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "counter_uniform: float or double");
  const std::uint64_t k = counter_bits(seed, i) >> (64 - kUniformBits<T>);
  return static_cast<T>(k) * (T(1) / static_cast<T>(std::uint64_t(1) << kUniformBits<T>));
}

// Dropout keeps element i when counter_uniform<T>(seed, i) >= p (probability 1 - p).
// As k * 2^-bits >= p exactly when k >= ceil(p 2^bits) (p 2^bits is exact), the test
// is one integer comparison with this threshold, on the CPU and on the GPU.
template <class T>
inline std::uint64_t dropout_threshold(T p) {
  const double scaled = static_cast<double>(p) * static_cast<double>(std::uint64_t(1) << kUniformBits<T>);
  const auto floor = static_cast<std::uint64_t>(scaled);
  return floor + (static_cast<double>(floor) < scaled ? 1 : 0);
}
template <class T>
KILN_HOST_DEVICE inline bool dropout_keeps(std::uint64_t seed, std::uint64_t i, std::uint64_t threshold) {
  return (counter_bits(seed, i) >> (64 - kUniformBits<T>)) >= threshold;
}

}  // namespace kiln::cuda_kernels
